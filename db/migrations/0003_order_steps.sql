-- Each step of an order is one transaction MySQL decides (db/order_steps.py). A cancellation is
-- recorded on the order before it is signalled, so that a step committing after it sees it;
-- the payment's intent is committed before the gateway is called, so a capture in doubt is
-- always known and refunded by its idempotency key.
-- Runs on MySQL 8 and MariaDB 10.11+. One statement per `;` at the end of a line.

ALTER TABLE orders
  ADD COLUMN cancel_requested_at DATETIME(6) NULL,
  ADD COLUMN cancel_reason VARCHAR(255) NULL;

-- INTENDED: the intent is committed, the gateway may have been called (payment_id unknown).
-- DECLINED: the gateway refused; nothing was taken. CAPTURED, REFUNDED as before.
ALTER TABLE payments
  MODIFY COLUMN payment_id VARCHAR(128) NULL,
  MODIFY COLUMN status ENUM('INTENDED','CAPTURED','DECLINED','REFUNDED') NOT NULL,
  MODIFY COLUMN captured_at DATETIME(6) NULL,
  ADD COLUMN idempotency_key VARCHAR(64) NULL,
  ADD COLUMN intended_at DATETIME(6) NULL;
