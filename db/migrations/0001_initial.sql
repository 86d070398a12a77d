-- The order-processing schema: orders and their items, the catalogue, and the side effects
-- each order may have at most once (stock reservations, payments, notifications).
-- Runs on MySQL 8 and MariaDB 10.11+. One statement per `;` at the end of a line.

CREATE TABLE orders (
  id BIGINT NOT NULL AUTO_INCREMENT,
  -- Binary collation: the idempotency key matches exactly, never case-insensitively.
  order_ref VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  customer_id BIGINT NOT NULL,
  customer_email VARCHAR(254) NOT NULL,
  currency CHAR(3) NOT NULL,
  order_date DATETIME NOT NULL,
  status ENUM('PENDING','VALIDATING','RESERVING_STOCK','PROCESSING_PAYMENT',
              'CONFIRMED','COMPLETED','FAILED','CANCELLED') NOT NULL,
  total_amount DECIMAL(10,2) NOT NULL,
  payment_method VARCHAR(32) NOT NULL,
  -- sha256 of the order's content: a redelivery matches it, a conflicting duplicate does not.
  content_fingerprint CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  temporal_workflow_id VARCHAR(255) NULL,
  failure_reason VARCHAR(255) NULL,
  -- Sequence of the status in `status`; a late retry of an older status must not overwrite it.
  status_sequence INT NOT NULL DEFAULT 0,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_orders_order_ref (order_ref),
  KEY ix_orders_customer_id (customer_id),
  KEY ix_orders_status (status),
  CONSTRAINT ck_orders_total_amount CHECK (total_amount >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE products (
  id BIGINT NOT NULL AUTO_INCREMENT,
  sku VARCHAR(64) NOT NULL,
  name VARCHAR(255) NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  -- Units free to reserve: reservations take from it, releases give back.
  stock_quantity INT NOT NULL DEFAULT 0,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY uq_products_sku (sku),
  CONSTRAINT ck_products_price CHECK (price >= 0),
  CONSTRAINT ck_products_stock_quantity CHECK (stock_quantity >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- No foreign key to products: an order naming an unknown product is still recorded, and
-- fails validation with a reason the customer can see.
CREATE TABLE order_items (
  id BIGINT NOT NULL AUTO_INCREMENT,
  order_id BIGINT NOT NULL,
  product_id BIGINT NOT NULL,
  quantity INT NOT NULL,
  unit_price DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (id),
  KEY ix_order_items_order_id (order_id),
  CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
  CONSTRAINT ck_order_items_quantity CHECK (quantity > 0),
  CONSTRAINT ck_order_items_unit_price CHECK (unit_price >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE stock_reservations (
  order_id BIGINT NOT NULL,
  product_id BIGINT NOT NULL,
  quantity INT NOT NULL,
  reserved_at DATETIME(6) NOT NULL,
  released_at DATETIME(6) NULL,
  PRIMARY KEY (order_id, product_id),
  KEY ix_stock_reservations_product_id (product_id),
  CONSTRAINT fk_stock_reservations_order FOREIGN KEY (order_id) REFERENCES orders (id),
  CONSTRAINT fk_stock_reservations_product FOREIGN KEY (product_id) REFERENCES products (id),
  CONSTRAINT ck_stock_reservations_quantity CHECK (quantity > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE payments (
  order_id BIGINT NOT NULL,
  payment_id VARCHAR(128) NOT NULL,
  amount DECIMAL(10,2) NOT NULL,
  currency CHAR(3) NOT NULL,
  status ENUM('CAPTURED','REFUNDED') NOT NULL,
  captured_at DATETIME(6) NOT NULL,
  refunded_at DATETIME(6) NULL,
  PRIMARY KEY (order_id),
  KEY ix_payments_payment_id (payment_id),
  CONSTRAINT fk_payments_order FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE notifications (
  order_id BIGINT NOT NULL,
  kind VARCHAR(32) NOT NULL,
  sent_at DATETIME(6) NOT NULL,
  PRIMARY KEY (order_id, kind),
  CONSTRAINT fk_notifications_order FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE order_status_history (
  order_id BIGINT NOT NULL,
  sequence INT NOT NULL,
  previous_status ENUM('PENDING','VALIDATING','RESERVING_STOCK','PROCESSING_PAYMENT',
                       'CONFIRMED','COMPLETED','FAILED','CANCELLED') NULL,
  status ENUM('PENDING','VALIDATING','RESERVING_STOCK','PROCESSING_PAYMENT',
              'CONFIRMED','COMPLETED','FAILED','CANCELLED') NOT NULL,
  reason VARCHAR(255) NULL,
  occurred_at DATETIME(3) NOT NULL,
  PRIMARY KEY (order_id, sequence),
  CONSTRAINT fk_order_status_history_order FOREIGN KEY (order_id) REFERENCES orders (id),
  CONSTRAINT ck_order_status_history_sequence CHECK (sequence >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
