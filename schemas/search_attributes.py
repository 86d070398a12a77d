"""The order workflow's search attributes as the typed keys the Temporal SDK reads and writes
them by: `OrderRef` and `CustomerId` set at the start, `OrderStatus` kept current by the
workflow. The one module of the contract that imports the SDK, for its key type."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

from schemas.workflow_io import (
    SEARCH_ATTRIBUTE_CUSTOMER_ID,
    SEARCH_ATTRIBUTE_ORDER_REF,
    SEARCH_ATTRIBUTE_ORDER_STATUS,
)

ORDER_REF = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORDER_REF)
CUSTOMER_ID = SearchAttributeKey.for_int(SEARCH_ATTRIBUTE_CUSTOMER_ID)
ORDER_STATUS = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORDER_STATUS)
