-- The status events' transactional outbox. Each status change writes its OrderStatusChanged
-- here in the transaction that writes the order's status and history line, so MySQL and the
-- status topic cannot disagree; the worker's relay (or Debezium's outbox event router) sends
-- the rows to Kafka in id order and deletes them once the broker has them.
-- Runs on MySQL 8 and MariaDB 10.11+. One statement per `;` at the end of a line.

-- Column names chosen so that Debezium's outbox event router can be pointed at the table by
-- configuration: table.field.event.id=event_id, table.field.event.key=message_key,
-- table.field.event.payload=payload (docs/reliability.md, "Debezium instead of the relay").
CREATE TABLE status_outbox (
  id BIGINT NOT NULL AUTO_INCREMENT,
  order_id BIGINT NOT NULL,
  sequence INT NOT NULL,
  -- `order-<id>:<sequence>`, the event's own id: every copy sent carries it.
  event_id VARCHAR(128) NOT NULL,
  event_type VARCHAR(64) NOT NULL,
  -- The Kafka key, the order's order_ref: one order's events share a partition.
  message_key VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  -- The Kafka value, the event's JSON exactly as it is sent.
  payload MEDIUMTEXT NOT NULL,
  -- The Kafka headers (the trace context), a JSON object of strings; NULL when there are none.
  headers TEXT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_status_outbox_order_sequence (order_id, sequence),
  CONSTRAINT fk_status_outbox_order FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per relay role. The relay that locks the row (SELECT ... FOR UPDATE NOWAIT) leads
-- for the length of its transaction; the others stand by. holder and acquired_at say who
-- took it last, for an operator.
CREATE TABLE outbox_relay_lease (
  name VARCHAR(64) NOT NULL,
  holder VARCHAR(255) NULL,
  acquired_at DATETIME(6) NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO outbox_relay_lease (name) VALUES ('status');
