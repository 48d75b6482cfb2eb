"""moto_server, with two fixes for the local stack.

1. moto's TransactWriteItems deep-copies the whole table once per item of the
   transaction, to roll back if a condition fails. On a table holding a
   100,000-row import that made one two-item transaction take 96 seconds.
   The launcher does what DynamoDB does instead: check every condition
   first, then apply every write, so nothing needs copying.
2. moto's FIFO queues find a duplicate by scanning the messages still in the
   queue: slow on a long queue, and blind to a copy of a message already
   received and deleted, which real SQS still drops within five minutes. The
   launcher remembers deduplication ids in a dict for those five minutes.

3. Every read of a moto queue's attributes counts its messages, with a clock
   reading per message, and sending one message reads them several times
   (for one flag): about 10 ms per message on a short queue, growing with
   the queue. While sending, the launcher answers that flag alone.

If moto's internals are not what it expects, it warns and serves moto as it is.
"""
import sys


def _patch():
    from moto.dynamodb import models
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
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
            writes.append((op_type, op, key))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for op_type, op, key in writes:  # every condition held: apply them all
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(op["TableName"], key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=names, expression_attribute_values=values)

    models.DynamoDBBackend.transact_write_items = transact_write_items


def _patch_fifo():
    from moto.sqs import models

    window_ms = models.DEDUPLICATION_TIME_IN_SECONDS * 1000
    add_message = models.Queue.add_message

    def add_message_deduplicated(self, message):
        if not self.fifo_queue:
            return add_message(self, message)
        # (self.attributes would count every message in the queue: read the field)
        content_based = str(getattr(self, "content_based_deduplication", "")).lower() == "true"
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
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()

    models.Queue.add_message = add_message_deduplicated


def _patch_counts():
    import threading

    from moto.sqs import models

    sending = threading.local()
    full = models.Queue.attributes.fget

    def attributes(self):
        if getattr(sending, "on", False):  # a send reads one attribute: skip the counts
            return {"ContentBasedDeduplication": str(getattr(self, "content_based_deduplication", False)).lower()}
        return full(self)

    models.Queue.attributes = property(attributes)

    def while_sending(method):
        def wrapped(*args, **kwargs):
            sending.on = True
            try:
                return method(*args, **kwargs)
            finally:
                sending.on = False

        return wrapped

    models.SQSBackend.send_message = while_sending(models.SQSBackend.send_message)
    models.SQSBackend.send_message_batch = while_sending(models.SQSBackend.send_message_batch)


for patch in (_patch, _patch_fifo, _patch_counts):
    try:
        patch()
    except Exception as exc:  # noqa: BLE001 - any surprise means: serve moto as it is
        print(f"sendwell: moto left as it is ({patch.__name__}: {exc!r})", file=sys.stderr)

from moto.server import main  # noqa: E402

main(sys.argv[1:])
