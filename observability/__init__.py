"""What the processes share to be watched: logging set-up and an orderly exit."""
