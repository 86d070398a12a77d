-- The sealed secrets of every order the contract accepts fit: an email of 254 characters and a
-- token of 128, each character up to 4 bytes in UTF-8, sealed under a key id of up to 255
-- bytes, take at most about 1,900 bytes (db/sealing.py). Values sealed before stay readable.
-- Runs on MySQL 8 and MariaDB 10.11+. One statement per `;` at the end of a line.

ALTER TABLE orders
  MODIFY COLUMN sealed_secrets VARBINARY(2048) NULL;
