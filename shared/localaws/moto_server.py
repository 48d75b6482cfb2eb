"""moto_server, with eight fixes for the local stack.

1. transactions: moto's TransactWriteItems deep-copies the whole table once
   per item of the transaction, to roll back if a condition fails. On a table
   holding a 100,000-row import that made one two-item transaction take 96
   seconds. The launcher does what DynamoDB does instead: check every
   condition first, then apply every write, so nothing needs copying.
   moto's server is threaded and serialises nothing, so two transactions (or a
   transaction and a conditional PutItem/UpdateItem/DeleteItem) on the same
   key could both pass their conditions. DynamoDB serialises them: here one
   re-entrant lock covers a transaction's check-then-write and every
   single-item write (whose condition moto checks inside the write, and whose
   ReturnValues it reads around it).
2. fifo-dedup: moto's FIFO queues find a duplicate by scanning the messages
   still in the queue: slow on a long queue, and blind to a copy of a message
   already received and deleted, which real SQS still drops within five
   minutes. The launcher remembers deduplication ids in a dict for those
   five minutes.
3. queue-counts: every read of a moto queue's attributes counts its messages,
   with a clock reading per message, and sending one message reads them
   several times (for one flag): about 10 ms per message on a short queue,
   growing with the queue. While sending, the launcher answers that flag alone.
   Receiving counted the queue once per message received, to read its
   retention period: 4.4 s to receive 10 messages from a FIFO queue holding
   8,000. The launcher reads the retention period alone.
4. partition-query: moto's Query of the table (not of an index) walks every
   item of the table to find one partition's, sorts the whole partition,
   walks it again to the page's start key, and only then applies Limit: on
   a partition of 100,000 contacts every page cost seconds, where DynamoDB
   reads the page alone. The launcher keeps each partition's keys sorted
   (until a key joins or leaves it) and hands Query only the window its key
   condition, start key, Limit and 1 MB page can reach.
5. index-query: moto's Query of an index walks every item of the table. The
   launcher keeps postings (each value of an index's partition key -> the
   keys of the items that have held it), added to by every write; a Query
   reads its partition's, and moto's own walk checks each still holds it.
6. routing: moto finds the service of every request by listing its own
   package directory (a stat per service, about 200) under a lock that every
   request takes, and logs a line per request through colorama: together
   most of the server's time under load. The launcher lists it once, and
   logs only failures unless MOTO_LOG is set.
7. item-json: moto writes every result through botocore's shape model, member
   by member: 0.4 s for a Query page of 1,000 contacts, four times the Query.
   The items of a read (Query, Scan, GetItem, BatchGetItem,
   TransactGetItems) are already DynamoDB's JSON: json.dumps writes them.
8. queue-scans: every SQS receive lists the queue's visible messages reading
   the clock twice per message, and every delete walks the queue twice: a
   backlog of 10,000 domain events drained at about 20 a second. One clock
   reading per list, and one walk per delete.

The patches reach into moto's internals, so they are applied only to the
moto version they were written and tested against (MOTO_VERSION; the
Makefile's check-tools reads the pin from here). A patch that does not take
is undone, and any fallback to stock moto is announced on stderr with a
"sendwell: WARNING:" line, which localaws.StartMoto always passes on. The last
"sendwell:" line before moto starts is "sendwell: patches applied: <names>".
"""
import os
import sys
import threading
import time

# The moto these patches are written against (go test ./shared/localaws/
# proves them). Another version runs as it is.
MOTO_VERSION = "5.2.1"

# What running stock moto costs, per patch: said in the warning.
COSTS = {
    "transactions": "TransactWriteItems copies the whole table per item (minutes on a large table), "
    "and concurrent transactions and conditional writes on one key can both succeed",
    "fifo-dedup": "FIFO deduplication only against messages still in the queue, scanned on every send",
    "queue-counts": "every SQS send counts the queue's messages (slower as the queue grows)",
    "partition-query": "every Query walks the whole table and sorts its partition (slower as the table grows)",
    "index-query": "every Query of an index walks the whole table (slower as the table grows)",
    "routing": "every request lists moto's package directory under a global lock, and is logged",
    "queue-scans": "every receive reads the clock twice per message in the queue, and every delete walks it twice",
    "item-json": "every read's items are serialised member by member through botocore's model (0.4 s per 1,000 items)",
}

# Serialises DynamoDB writes: a transaction's checks and writes, and each
# single-item write. Re-entrant: the transaction writes through put_item.
_WRITES = threading.RLock()


def warn(text):
    print(f"sendwell: WARNING: {text}", file=sys.stderr, flush=True)


class Patcher:
    """Replaces class attributes, remembering the originals to undo them."""

    def __init__(self):
        self.done = []  # (owner, name, original, replacement)

    def set(self, owner, name, value):
        # KeyError when moto moved the attribute: the patch would not take.
        original = owner.__dict__[name]
        if callable(value) and not hasattr(value, "__wrapped__"):
            value.__wrapped__ = original  # a later patch may wrap this one: took() follows the chain
        self.done.append((owner, name, original, value))
        setattr(owner, name, value)

    def took(self):
        return bool(self.done) and all(_wraps(owner.__dict__.get(name), value) for owner, name, _, value in self.done)

    def undo(self):
        for owner, name, original, _ in reversed(self.done):
            setattr(owner, name, original)
        self.done = []


def _wraps(current, value):
    """Whether current is value, or a later patch's wrapper around it."""
    while current is not None:
        if current is value:
            return True
        current = getattr(current, "__wrapped__", None)
    return False


def _locked(method):
    def locked(*args, **kwargs):
        with _WRITES:
            return method(*args, **kwargs)

    locked.__wrapped__ = method
    return locked


def patch_transactions(p):
    from moto.dynamodb import models, responses
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    backend = models.DynamoDBBackend

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        with _WRITES:  # no other write between the checks and the writes
            seen, errors, writes = set(), [], []
            for item in transact_items:
                if len(list(item.keys())) > 1:
                    raise TransactWriteSingleOpException
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                if op_type == "Put":
                    table = self.get_table(table_name)
                    attrs = op["Item"]
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                ident = (str(table_name), str(dict(sorted(key.items()))))
                if ident in seen:
                    raise MultipleTransactionsException()
                seen.add(ident)
                current = self.get_item(table_name, key)
                cond = op.get("ConditionExpression")
                if cond is not None and not get_filter_expression(
                    cond, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                ).expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", str(ConditionalCheckFailed().message), old))
                    continue
                errors.append((None, None, None))
                writes.append((op_type, op, key, current.to_json()["Attributes"] if current else None))
            if any(code is not None for code, _, _ in errors):
                raise TransactionCanceledException(errors)
            applied = []
            try:
                for op_type, op, key, before in writes:  # every condition held: apply them all
                    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                    if op_type == "Put":
                        self.put_item(op["TableName"], op["Item"], expression_attribute_names=names,
                                      expression_attribute_values=values)
                    elif op_type == "Delete":
                        self.delete_item(op["TableName"], key, expression_attribute_names=names,
                                         expression_attribute_values=values)
                    elif op_type == "Update":
                        self.update_item(op["TableName"], key, update_expression=op["UpdateExpression"],
                                         expression_attribute_names=names, expression_attribute_values=values)
                    applied.append((op["TableName"], key, before))
            except Exception as e:
                # All or nothing, even when moto itself fails half-way: put
                # back what was written, so the client's retry (a 500 is
                # retried) meets the table as it was, as DynamoDB's would.
                warn("a transaction failed half-way inside moto and was rolled back: %r" % (e,))
                for table_name, key, before in reversed(applied):
                    if before is None:
                        self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, before)
                raise

    # Single-item writes check their condition inside these methods (BatchWriteItem
    # goes through them too), so the lock makes each check-then-write atomic. The
    # request handlers read the item before the write and serialise it after (for
    # ReturnValues): under the lock too, or two concurrent ADDs could both return
    # the later count.
    for name in ("put_item", "update_item", "delete_item"):
        p.set(backend, name, _locked(backend.__dict__[name]))
        p.set(responses.DynamoHandler, name, _locked(responses.DynamoHandler.__dict__[name]))
    p.set(backend, "transact_write_items", transact_write_items)

    # ClientRequestToken: DynamoDB answers a transaction sent again with the
    # same token (the SDK sets one and keeps it across its retries) with the
    # first answer instead of applying it twice, for 10 minutes. moto ignores
    # the token, so an SDK retry of a transaction that went in but whose
    # answer was lost would meet its own writes and fail its conditions.
    from moto.core.responses import ActionResult

    handle = responses.DynamoHandler.__dict__["transact_write_items"]
    tokens = {}

    def transact_write_items_once(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return handle(self)
        with _WRITES:
            now = time.monotonic()
            for t in [t for t, at in tokens.items() if now - at > 600]:
                del tokens[t]
            if token in tokens:
                warn("a transaction was sent again with the same ClientRequestToken (an SDK retry "
                     "after a lost answer): answered as DynamoDB does, without applying it twice")
                return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
            result = handle(self)
            tokens[token] = now
            return result

    p.set(responses.DynamoHandler, "transact_write_items", transact_write_items_once)


def patch_fifo_dedup(p):
    from moto.sqs import models

    window_ms = models.DEDUPLICATION_TIME_IN_SECONDS * 1000
    add_message = models.Queue.__dict__["add_message"]
    # The fields the replacement reads, on a queue as moto makes one.
    probe = models.Queue("sendwell-probe.fifo", "us-east-1", "123456789012", FifoQueue="true")
    for field in ("fifo_queue", "content_based_deduplication", "_messages", "_messages_lock"):
        if not hasattr(probe, field):
            raise AttributeError(f"moto's Queue has no {field}")

    def add_message_deduplicated(self, message):
        if not self.fifo_queue:
            return add_message(self, message)
        # (self.attributes would count every message in the queue: read the field)
        content_based = str(getattr(self, "content_based_deduplication", "")).lower() == "true"
        # The lock is moto's own (a Condition over an RLock): two sends of one
        # deduplication id cannot both pass the check.
        with self._messages_lock:
            if content_based or message.deduplication_id:
                seen = self.__dict__.setdefault("_sendwell_dedup", {})
                first = seen.get(message.deduplication_id)
                if first is not None and message.sent_timestamp - first < window_ms:
                    return
                seen[message.deduplication_id] = message.sent_timestamp
                if len(seen) > 100_000:  # forget what is out of the window
                    now = message.sent_timestamp
                    for k in [k for k, t in seen.items() if now - t >= window_ms]:
                        del seen[k]
            # As moto's own add_message, less its Lambda event-source hook (unused here).
            self._messages.append(message)
            self._messages_lock.notify_all()

    p.set(models.Queue, "add_message", add_message_deduplicated)


def patch_queue_counts(p):
    from moto.sqs import models

    sending = threading.local()
    full = models.Queue.__dict__["attributes"].fget

    def attributes(self):
        if getattr(sending, "on", False):  # a send reads one attribute: skip the counts
            return {"ContentBasedDeduplication": str(getattr(self, "content_based_deduplication", False)).lower()}
        return full(self)

    def while_sending(method):
        def wrapped(*args, **kwargs):
            sending.on = True
            try:
                return method(*args, **kwargs)
            finally:
                sending.on = False

        return wrapped

    p.set(models.Queue, "attributes", property(attributes))
    for name in ("send_message", "send_message_batch"):
        p.set(models.SQSBackend, name, while_sending(models.SQSBackend.__dict__[name]))

    # Receiving checks each message's retention by reading the queue's whole
    # attributes, counts included: 10 counts of the queue per receive of 10.
    # The retention period alone is what it needs.
    from moto.core.utils import unix_time

    def retained(self, queue_name, message):
        period = int(self.get_queue(queue_name).message_retention_period)
        return period + message.sent_timestamp / 1000 > unix_time()

    p.set(models.SQSBackend, "is_message_valid_based_on_retention_period", retained)


# Query's comparisons of a range key, by the names moto passes them under.
_RANGE_OPS = {"=": "EQ", "EQ": "EQ", "<": "LT", "LT": "LT", "<=": "LE", "LE": "LE", ">": "GT", "GT": "GT",
              ">=": "GE", "GE": "GE", "BETWEEN": "BETWEEN", "BEGINS_WITH": "BEGINS_WITH"}


def _window(keys, op, values, start, forward):
    """The bounds [lo, hi) in the sorted string keys of a partition that a
    range condition (op, values) and an exclusive start key leave."""
    from bisect import bisect_left, bisect_right

    lo, hi = 0, len(keys)
    if op == "EQ":
        lo, hi = bisect_left(keys, values[0]), bisect_right(keys, values[0])
    elif op == "LT":
        hi = bisect_left(keys, values[0])
    elif op == "LE":
        hi = bisect_right(keys, values[0])
    elif op == "GT":
        lo = bisect_right(keys, values[0])
    elif op == "GE":
        lo = bisect_left(keys, values[0])
    elif op == "BETWEEN":
        lo, hi = bisect_left(keys, values[0]), bisect_right(keys, values[1])
    elif op == "BEGINS_WITH":
        prefix = values[0]
        lo = bisect_left(keys, prefix)
        # The keys with the prefix follow it contiguously: find where they end.
        a, b = lo, len(keys)
        while a < b:
            m = (a + b) // 2
            if keys[m].startswith(prefix):
                a = m + 1
            else:
                b = m
        hi = a
    if start is not None:
        if forward:
            lo = max(lo, bisect_right(keys, start))
        else:
            hi = min(hi, bisect_left(keys, start))
    return lo, max(lo, hi)


def patch_partition_query(p):
    import inspect

    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

    scope = threading.local()
    all_items = Table.__dict__["all_items"]
    query = Table.__dict__["query"]
    put_item = Table.__dict__["put_item"]
    delete_item = Table.__dict__["delete_item"]
    signature = inspect.signature(query)
    guard = threading.Lock()  # the sorted keys' cache

    # Each partition's range keys, sorted, kept until a key joins or leaves it.
    def changed(self, hash_value):
        with guard:
            versions = self.__dict__.setdefault("_sendwell_versions", {})
            versions[hash_value] = versions.get(hash_value, 0) + 1

    def put_item_counted(self, item_attrs, *args, **kwargs):
        if not self.range_key_attr:
            return put_item(self, item_attrs, *args, **kwargs)
        before = len(self.items.get(_hash_of(self, item_attrs), ()))
        item = put_item(self, item_attrs, *args, **kwargs)
        if len(self.items.get(item.hash_key, ())) != before:
            changed(self, item.hash_key)
        return item

    def delete_item_counted(self, hash_key, range_key, *args, **kwargs):
        item = delete_item(self, hash_key, range_key, *args, **kwargs)
        if item is not None:
            changed(self, hash_key)
        return item

    def sorted_keys(self, hash_key, part):
        with guard:
            version = self.__dict__.setdefault("_sendwell_versions", {}).get(hash_key, 0)
            cache = self.__dict__.setdefault("_sendwell_sorted", {})
            hit = cache.get(hash_key)
            if hit is not None and hit[0] is part and hit[1] == version:
                return hit[2], hit[3]
        keys = sorted(list(part), key=lambda k: k.value)
        plain = [k.value for k in keys]
        with guard:
            cache[hash_key] = (part, version, plain, keys)
        return plain, keys

    def window_items(self, part, w):
        """The items of the partition that stock moto's walk can reach: the
        range condition's and start key's bounds, then no more than Limit
        plus one and 1 MB plus one item (how moto decides that a page ends)."""
        plain, keys = sorted_keys(self, w["hash_key"], part)
        lo, hi = _window(plain, w["op"], w["values"], w["start"], w["forward"])
        out, size, limit = [], 0, w["limit"]
        for i in range(lo, hi) if w["forward"] else range(hi - 1, lo - 1, -1):
            item = part.get(keys[i])
            if item is None:  # deleted since the keys were sorted: moto would not see it
                continue
            out.append(item)
            size += item.size()
            if (limit and len(out) > limit) or size > RESULT_SIZE_LIMIT:
                break
        return out

    def partition_items(self):
        hash_key = getattr(scope, "hash_key", None)
        if hash_key is None:
            return all_items(self)
        part = self.items.get(hash_key)  # .get: the defaultdict must not grow
        if not part:
            return []
        if not self.range_key_attr:
            return [part]
        w = getattr(scope, "window", None)
        if w is not None:
            return window_items(self, part, w)
        return list(part.values())

    def window_of(self, bound):
        """What a Query of a string range key asks, when the launcher can
        bound it; None to hand moto the whole partition."""
        if not self.range_key_attr or self.range_key_type != "S" or bound.get("filter_kwargs"):
            return None
        if len(bound.get("range_key_conditions") or []) > 1:
            return None
        op, values = bound.get("range_comparison"), bound.get("range_objs") or []
        if op is not None:
            op = _RANGE_OPS.get(op.upper())
            if op is None or any(v.type != "S" for v in values):
                return None
        start = bound.get("exclusive_start_key")
        if start is not None:  # as sent ({"S": ...}), or as moto hands it back in-process
            start = start.get(self.range_key_attr)
            start = start.get("S") if isinstance(start, dict) else getattr(start, "value", None) if getattr(start, "type", None) == "S" else None
            if start is None:
                return None
        return {"hash_key": bound["hash_key"], "op": op, "values": [v.value for v in values], "start": start,
                "forward": bound.get("scan_index_forward") is not False, "limit": bound.get("limit")}

    def partition_query(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs).arguments
        if not bound.get("index_name") and bound.get("hash_key") is not None:
            scope.hash_key = bound["hash_key"]
            scope.window = window_of(self, bound)
        scope.uncopied = True
        try:
            return query(self, *args, **kwargs)
        finally:
            scope.hash_key = scope.window = None
            scope.uncopied = False

    # Query deep-copies the page it found before projecting and filtering it,
    # neither of which changes an item (each projection makes a new one), and
    # the server only reads the page to write its answer: 30 ms of a 1,000
    # item page. Within Query, the copy is the page itself.
    class Copy:
        def __getattr__(self, name):
            return getattr(copy_module, name)

        @staticmethod
        def deepcopy(value, *args, **kwargs):
            if getattr(scope, "uncopied", False) and isinstance(value, list):
                return list(value)
            return copy_module.deepcopy(value, *args, **kwargs)

    import copy as copy_module

    from moto.dynamodb.models import table as table_module

    p.set(Table, "all_items", partition_items)
    p.set(Table, "query", partition_query)
    p.set(table_module, "copy", Copy())
    p.set(Table, "put_item", put_item_counted)
    p.set(Table, "delete_item", delete_item_counted)


def patch_index_query(p):
    import inspect

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    scope = threading.local()
    all_items = Table.__dict__["all_items"]  # the partition-query patch's, when it took
    query = Table.__dict__["query"]
    put_item = Table.__dict__["put_item"]
    update_item = DynamoDBBackend.__dict__["update_item"]
    signature = inspect.signature(query)
    guard = threading.Lock()  # every table's postings

    # A table's postings: for each attribute an index is partitioned by, the
    # keys of the items that have had each value. Writes add to them; a
    # Query checks each key still holds an item with that value (moto's own
    # walk does), so a deleted or changed item needs no bookkeeping.
    def postings(self):
        """The table's postings, built on first use. The caller holds guard."""
        state = self.__dict__.get("_sendwell_postings")
        if state is not None and state[0] is self.items:
            return state[1]
        attrs = {k["AttributeName"] for i in self.all_indexes() for k in i.schema if k["KeyType"] == "HASH"}
        found = {a: {} for a in attrs}
        for part in list(self.items.values()):
            for item in list(part.values()) if self.range_key_attr else [part]:
                post(found, item)
        self.__dict__["_sendwell_postings"] = (self.items, found)
        return found

    def post(found, item):
        for attr, values in found.items():
            value = item.attrs.get(attr)
            if value is not None:
                values.setdefault(value, {})[(item.hash_key, item.range_key)] = None

    def note(table, item):
        if item is None:
            return
        with guard:
            state = table.__dict__.get("_sendwell_postings")
            if state is not None and state[0] is table.items:  # not built yet: its walk sees the item
                post(state[1], item)

    def put_item_posted(self, item_attrs, *args, **kwargs):
        item = put_item(self, item_attrs, *args, **kwargs)
        note(self, item)
        return item

    def update_item_posted(self, table_name, *args, **kwargs):
        item = update_item(self, table_name, *args, **kwargs)  # changes the stored item in place
        note(self.get_table(table_name), item)
        return item

    def holding(self, key, attr, value):
        """The item at key, if it holds value in attr."""
        part = self.items.get(key[0])
        item = (part.get(key[1]) if self.range_key_attr else part) if part is not None else None
        held = item.attrs.get(attr) if item is not None else None
        return item if held is not None and held == value else None

    def candidates(self, attr, value):
        with guard:
            keys = postings(self).get(attr, {}).get(value)
            keys = list(keys) if keys else []
        out, stale = [], []
        for key in keys:
            item = holding(self, key, attr, value)
            if item is None:
                stale.append(key)
            else:
                out.append(item)
        if stale:  # forget the keys that no longer hold the value (checked again: a write may have just set it)
            with guard:
                posted = postings(self).get(attr, {}).get(value, {})
                for key in stale:
                    if holding(self, key, attr, value) is None:
                        posted.pop(key, None)
        return out

    def indexed_items(self):
        found = getattr(scope, "found", None)
        return all_items(self) if found is None else found

    def index_query(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs).arguments
        conditions = bound.get("hash_key_conditions") or []
        if not bound.get("index_name") or not conditions:
            return query(self, *args, **kwargs)
        attr, value = conditions[0]
        scope.found = candidates(self, attr, value)
        try:
            return query(self, *args, **kwargs)
        finally:
            scope.found = None

    p.set(Table, "all_items", indexed_items)
    p.set(Table, "query", index_query)
    p.set(Table, "put_item", put_item_posted)
    p.set(DynamoDBBackend, "update_item", update_item_posted)


def patch_routing(p):
    import moto.backends as backends
    from werkzeug.serving import WSGIRequestHandler

    # Routing a request lists moto's package directory (a stat per service,
    # about 200) while holding the server's one lock: every request waits
    # its turn for it. The directory does not change while moto runs.
    modules = tuple(backends.list_of_moto_modules())
    p.set(backends, "list_of_moto_modules", lambda: modules)

    # A line per request, through colorama's stream wrapper, costs as much
    # again: only failures are logged, unless MOTO_LOG asks for everything.
    if not os.environ.get("MOTO_LOG"):
        log_request = WSGIRequestHandler.__dict__["log_request"]

        def log_failures(self, code="-", size="-"):
            if str(code).startswith("5"):
                log_request(self, code, size)

        p.set(WSGIRequestHandler, "log_request", log_failures)


def patch_item_json(p):
    import base64
    import json

    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    # moto serialises every result through botocore's shape model, member
    # by member: 0.4 s for a page of 1,000 contacts, four times moto's own
    # Query. A read's result is items already in DynamoDB's JSON (moto's
    # dynamo_to_dict), so json.dumps writes the same body.
    reads = {"Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems"}
    execute = ActionResult.__dict__["execute_result"]

    def blob(value):
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(value).decode()
        raise TypeError(f"not JSON: {type(value).__name__}")

    def execute_result(self, context):
        if isinstance(self, DynamoResult) and isinstance(self.result, dict) and context.operation_model.name in reads:
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result, default=blob)
        return execute(self, context)

    p.set(ActionResult, "execute_result", execute_result)


def patch_queue_scans(p):
    from moto.core.utils import unix_time_millis
    from moto.sqs import models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    # A receive lists the queue's visible messages: moto reads the clock
    # twice per message (about 4 ms for 1,000 messages), for every receive.
    # One reading serves the whole list.
    def messages(self):
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and now >= m.delayed_until]

    # A delete walked the queue twice, building each message's list of
    # receipt handles both times. One walk finds it (received messages are
    # the oldest, near the front), and the queue becomes a new list, as
    # before, so a receive walking the old one is undisturbed.
    def delete_message(self, receipt_handle):
        if receipt_handle in self.deleted_messages:
            return  # deleted already: as moto, no error
        for i, m in enumerate(self._messages):
            if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles:
                self.pending_messages.discard(m)
                self.deleted_messages.update(m.all_receipt_handles)
                self._messages = self._messages[:i] + self._messages[i + 1 :]
                return
        raise ReceiptHandleIsInvalid()

    p.set(models.Queue, "messages", property(messages))
    p.set(models.Queue, "delete_message", delete_message)


def _hash_of(table, item_attrs):
    from moto.dynamodb.models.dynamo_type import DynamoType

    value = item_attrs.get(table.hash_key_attr)
    return DynamoType(value) if value is not None else None


PATCHES = (
    ("transactions", patch_transactions),
    ("fifo-dedup", patch_fifo_dedup),
    ("queue-counts", patch_queue_counts),
    ("partition-query", patch_partition_query),
    ("index-query", patch_index_query),
    ("routing", patch_routing),
    ("item-json", patch_item_json),
    ("queue-scans", patch_queue_scans),
)


def apply(version):
    """Applies every patch that takes on moto `version`: {name: its Patcher}."""
    if version != MOTO_VERSION:
        warn(
            f"moto {version} is installed but the launcher's patches are written for moto {MOTO_VERSION}: "
            f"serving stock moto ({'; '.join(COSTS.values())}). "
            f"Install the known version: pip install 'moto[server]=={MOTO_VERSION}'"
        )
        return {}
    applied = {}
    for name, patch in PATCHES:
        p = Patcher()
        try:
            patch(p)
            if not p.took():
                raise RuntimeError("the patched attributes are not the launcher's")
        except Exception as exc:  # noqa: BLE001 - any surprise means: this part of moto as it is
            p.undo()
            warn(f"patch {name} did not take ({exc!r}): stock moto there: {COSTS[name]}")
            continue
        applied[name] = p
    return applied


def verify(applied):
    """Drops (and undoes) each patch whose attributes are no longer the
    launcher's, say because importing moto's server replaced them."""
    for name, p in list(applied.items()):
        if not p.took():
            p.undo()
            del applied[name]
            warn(f"patch {name} was replaced after it was applied: stock moto there: {COSTS[name]}")


def main(argv):
    import moto

    applied = apply(moto.__version__)
    from moto.server import main as serve  # imports moto's server and its services

    verify(applied)
    print(f"sendwell: patches applied: {', '.join(applied) or 'none'}", file=sys.stderr, flush=True)
    serve(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
