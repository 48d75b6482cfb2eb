"""moto_server, with one fix for the local stack.

moto's TransactWriteItems deep-copies the whole table once per item of the
transaction, to roll back if a condition fails. On a table holding a
100,000-row import that made one two-item transaction take 96 seconds. This
launcher replaces it with what DynamoDB does: check every condition first,
then apply every write, so nothing needs copying. If moto's internals are not
what it expects, it warns and serves moto unchanged.
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


try:
    _patch()
except Exception as exc:  # noqa: BLE001 - any surprise means: serve moto as it is
    print(f"sendwell: moto's TransactWriteItems left as it is ({exc!r})", file=sys.stderr)

from moto.server import main  # noqa: E402

main(sys.argv[1:])
