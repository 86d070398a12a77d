"""`make bench`: what an order costs the stack, against the floor and the seed's design."""
