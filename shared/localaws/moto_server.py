"""moto_server, with three fixes for the local stack.

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
   item of the table to find one partition's: 15 ms for an empty partition
   of a table of a few thousand items, and more as it grows, where DynamoDB
   reads the partition alone. The launcher gives Query that partition.

The patches reach into moto's internals, so they are applied only to the
moto version they were written and tested against (MOTO_VERSION; the
Makefile's check-tools reads the pin from here). A patch that does not take
is undone, and any fallback to stock moto is announced on stderr with a
"sendwell: WARNING:" line, which localaws.StartMoto always passes on. The last
"sendwell:" line before moto starts is "sendwell: patches applied: <names>".
"""
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
    "partition-query": "every Query walks the whole table (slower as the table grows)",
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
        self.done.append((owner, name, owner.__dict__[name], value))
        setattr(owner, name, value)

    def took(self):
        return bool(self.done) and all(owner.__dict__.get(name) is value for owner, name, _, value in self.done)

    def undo(self):
        for owner, name, original, _ in reversed(self.done):
            setattr(owner, name, original)
        self.done = []


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


def patch_partition_query(p):
    import inspect

    from moto.dynamodb.models.table import Table

    scope = threading.local()
    all_items = Table.__dict__["all_items"]
    query = Table.__dict__["query"]
    signature = inspect.signature(query)

    def partition_items(self):
        hash_key = getattr(scope, "hash_key", None)
        if hash_key is None:
            return all_items(self)
        part = self.items.get(hash_key)  # .get: the defaultdict must not grow
        if not part:
            return []
        return list(part.values()) if self.range_key_attr else [part]

    def partition_query(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs).arguments
        if bound.get("index_name") or bound.get("hash_key") is None:
            return query(self, *args, **kwargs)
        scope.hash_key = bound["hash_key"]
        try:
            return query(self, *args, **kwargs)
        finally:
            scope.hash_key = None

    p.set(Table, "all_items", partition_items)
    p.set(Table, "query", partition_query)


PATCHES = (
    ("transactions", patch_transactions),
    ("fifo-dedup", patch_fifo_dedup),
    ("queue-counts", patch_queue_counts),
    ("partition-query", patch_partition_query),
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
