-- An order stored but never started is started later from MySQL alone (consumer/sweeper.py).
-- It needs the order's payment token and customer email, which MySQL must not hold in clear:
-- with a payload key, the consumer stores both sealed with it (db/sealing.py) and leaves
-- customer_email empty; without one, customer_email is in clear and the token is not stored.
-- Runs on MySQL 8 and MariaDB 10.11+. One statement per `;` at the end of a line.

ALTER TABLE orders
  MODIFY COLUMN customer_email VARCHAR(254) NULL,
  ADD COLUMN sealed_secrets VARBINARY(1024) NULL;
