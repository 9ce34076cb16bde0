"""A small SOQL engine for the fake org: the subset the runbook needs, and Salesforce's refusals.

It evaluates SELECT … FROM … [WHERE a AND b …] [GROUP BY …] [ORDER BY …] [LIMIT n] over in-memory rows,
with COUNT(), COUNT(field), DAY_ONLY() and HOUR_IN_DAY(), relationship fields (`PermissionSet.Name`),
datetime literals, `LAST_N_DAYS:n` (today and the n days before, UTC), IN lists and LIKE with `%`, `_` and
backslash escapes. It refuses what a real org refuses
and the runbook notes list: a field in SELECT that is neither grouped nor aggregated (`Id` beside GROUP BY),
`LAST_N_HOURS`, a long text area in WHERE or GROUP BY, unknown objects and fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LastNDays:
    """`LAST_N_DAYS:n`: from midnight n days before today up to the end of today (the org's time zone, UTC here)."""

    days: int

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        today = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
        return today - timedelta(days=self.days), today + timedelta(days=1)


@dataclass
class SObject:
    name: str
    fields: dict[str, str]  # field → type: id, string, textarea (long), datetime, boolean, number, reference
    rows: list[dict[str, Any]] = field(default_factory=list)


TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:\\.|[^'\\])*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<literal>[A-Z_]+:\d+)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "GROUP",
    "BY",
    "ORDER",
    "LIMIT",
    "ASC",
    "DESC",
    "LIKE",
    "IN",
    "NOT",
    "NULLS",
    "FIRST",
    "LAST",
}
FUNCTIONS = {"COUNT", "DAY_ONLY", "HOUR_IN_DAY"}


def tokenize(soql: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    soql = soql.strip()
    while position < len(soql):
        match = TOKEN.match(soql, position)
        if not match or match.end() == position:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{soql[position : position + 20]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


@dataclass
class Expr:
    function: str | None
    field: str | None  # None for COUNT()

    def key(self) -> str:
        return f"{self.function}({self.field or ''})" if self.function else str(self.field)


@dataclass
class Condition:
    expr: Expr
    op: str
    value: Any


@dataclass
class Query:
    select: list[tuple[Expr, str | None]]
    sobject: str
    where: list[Condition]
    group_by: list[Expr]
    order_by: list[tuple[Expr, bool]]
    limit: int | None


class Parser:
    def __init__(self, soql: str) -> None:
        self.tokens = tokenize(soql)
        self.position = 0

    def peek(self) -> str:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else ""

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expect(self, word: str) -> None:
        _, value = self.take()
        if value.upper() != word:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}', expecting {word}")

    def at(self, *words: str) -> bool:
        return self.peek().upper() in words

    def expr(self) -> Expr:
        kind, value = self.take()
        if kind != "word":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")
        if value.upper() in FUNCTIONS and self.peek() == "(":
            self.take()
            inner = None if self.peek() == ")" else self.take()[1]
            self.expect(")")
            return Expr(value.upper(), inner)
        return Expr(None, value)

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            return re.sub(
                r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), "\\" + m.group(1)), value[1:-1]
            )
        if kind == "datetime":
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "literal" and re.fullmatch(r"LAST_N_DAYS:\d+", value, re.IGNORECASE):
            return LastNDays(int(value.split(":")[1]))
        if kind == "literal":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")
        if kind == "word" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "word" and value.lower() == "null":
            return None
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")

    def subquery(self) -> str:
        """The text of a semi-join `(SELECT …)`, its opening parenthesis already taken."""
        depth, inner = 1, []
        while True:
            _, value = self.take()
            depth += {"(": 1, ")": -1}.get(value, 0)
            if depth == 0:
                return " ".join(inner)
            inner.append(value)

    def parse(self) -> Query:
        self.expect("SELECT")
        select: list[tuple[Expr, str | None]] = []
        while True:
            expression = self.expr()
            alias = None
            kind, value = self.tokens[self.position] if self.position < len(self.tokens) else ("", "")
            if kind == "word" and value.upper() not in KEYWORDS:
                alias = self.take()[1]
            select.append((expression, alias))
            if self.peek() != ",":
                break
            self.take()
        self.expect("FROM")
        sobject = self.take()[1]
        where: list[Condition] = []
        if self.at("WHERE"):
            self.take()
            while True:
                expression = self.expr()
                kind, op = self.take()
                op = op.upper()
                if op == "IN" and self.tokens[self.position + 1][1].upper() == "SELECT":
                    self.expect("(")
                    where.append(Condition(expression, "IN_QUERY", self.subquery()))
                elif op == "IN":
                    self.expect("(")
                    values = [self.literal()]
                    while self.peek() == ",":
                        self.take()
                        values.append(self.literal())
                    self.expect(")")
                    where.append(Condition(expression, "IN", values))
                elif op in ("=", "!=", "<>", "<", "<=", ">", ">=", "LIKE"):
                    where.append(Condition(expression, op, self.literal()))
                else:
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op}'")
                if self.at("OR"):
                    raise SoqlError("MALFORMED_QUERY", "the fake org does not support OR")
                if not self.at("AND"):
                    break
                self.take()
        group_by: list[Expr] = []
        if self.at("GROUP"):
            self.take()
            self.expect("BY")
            group_by.append(self.expr())
            while self.peek() == ",":
                self.take()
                group_by.append(self.expr())
        order_by: list[tuple[Expr, bool]] = []
        if self.at("ORDER"):
            self.take()
            self.expect("BY")
            while True:
                expression = self.expr()
                descending = False
                if self.at("ASC", "DESC"):
                    descending = self.take()[1].upper() == "DESC"
                order_by.append((expression, descending))
                if self.peek() != ",":
                    break
                self.take()
        limit = None
        if self.at("LIMIT"):
            self.take()
            limit = int(self.take()[1])
        if self.position != len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek()}'")
        return Query(select, sobject, where, group_by, order_by, limit)


def like(pattern: str, text: str) -> bool:
    regex, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            regex += re.escape(pattern[index + 1])
            index += 2
            continue
        regex += ".*" if char == "%" else "." if char == "_" else re.escape(char)
        index += 1
    return re.fullmatch(regex, text or "", re.IGNORECASE | re.DOTALL) is not None


def resolve(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value


def evaluate(expression: Expr, row: dict[str, Any]) -> Any:
    value = resolve(row, expression.field or "Id")
    if expression.function == "DAY_ONLY":
        return value.astimezone(UTC).date() if value else None
    if expression.function == "HOUR_IN_DAY":
        return value.astimezone(UTC).hour if value else None
    return value


def compare(value: Any, op: str, target: Any) -> bool:
    if op == "LIKE":
        return like(str(target), str(value or ""))
    if op == "IN":
        return value in target
    if op == "WITHIN":
        return value is not None and target[0] <= value < target[1]
    if op in ("=", "!="):
        equal = (str(value).lower() == str(target).lower()) if isinstance(value, str) else value == target
        return equal if op == "=" else not equal
    if op == "<>":
        return value != target
    if value is None or target is None:
        return False
    return {"<": value < target, "<=": value <= target, ">": value > target, ">=": value >= target}[op]


def output(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, date):
        return value.isoformat()
    return value


class Org:
    """The objects of the fake org and the queries over them."""

    def __init__(self, objects: dict[str, SObject], now: datetime) -> None:
        self.objects = objects
        self.now = now

    def _check_field(self, sobject: SObject, expression: Expr) -> str:
        if expression.field is None:
            return "id"
        root = expression.field.split(".")[0]
        kind = next((t for f, t in sobject.fields.items() if f.lower() == expression.field.lower()), None)
        if kind is None and "." in expression.field:
            kind = next((t for f, t in sobject.fields.items() if f.lower() == root.lower()), None)
        if kind is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{expression.field}' on entity '{sobject.name}'.")
        return kind

    def query(self, soql: str) -> tuple[list[dict[str, Any]], int]:
        if re.search(r"\bLAST_N_HOURS\b", soql, re.IGNORECASE):
            match = re.search(r"LAST_N_HOURS:\d+", soql, re.IGNORECASE)
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{match.group(0) if match else 'LAST_N_HOURS'}'")
        query = Parser(soql).parse()
        for index, condition in enumerate(query.where):
            if condition.op == "IN_QUERY":  # a semi-join: the values its query selects
                records, _ = self.query(condition.value)
                values = [next(v for k, v in r.items() if k != "attributes") for r in records]
                query.where[index] = Condition(condition.expr, "IN", values)
        sobject = self.objects.get(query.sobject)
        if sobject is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
        for expression, _ in query.select:
            self._check_field(sobject, expression)
        for condition in query.where:
            if self._check_field(sobject, condition.expr) == "textarea":
                raise SoqlError("INVALID_FIELD", f"field '{condition.expr.field}' can not be filtered in a query call")
        for expression in query.group_by:
            if self._check_field(sobject, expression) == "textarea":
                raise SoqlError("INVALID_FIELD", f"field '{expression.field}' can not be grouped in a query call")
        for index, condition in enumerate(query.where):
            if isinstance(condition.value, LastNDays):
                if condition.op != "=":
                    raise SoqlError("MALFORMED_QUERY", "this fake org compares date literals with = only")
                query.where[index] = Condition(condition.expr, "WITHIN", condition.value.bounds(self.now))
        rows = [r for r in sobject.rows if all(compare(evaluate(c.expr, r), c.op, c.value) for c in query.where)]
        aggregate = bool(query.group_by) or any(e.function == "COUNT" for e, _ in query.select)
        if len(query.select) == 1 and query.select[0][0].function == "COUNT" and not query.select[0][0].field:
            return [], len(rows)
        if aggregate:
            return self._aggregate(query, sobject, rows)
        for expression, descending in reversed(query.order_by):
            rows.sort(key=lambda r, e=expression: (evaluate(e, r) is None, evaluate(e, r)), reverse=descending)
        total = len(rows)
        rows = rows[: query.limit] if query.limit is not None else rows
        return [self._record(sobject, query, row) for row in rows], total if query.limit is None else len(rows)

    def _record(self, sobject: SObject, query: Query, row: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "attributes": {"type": sobject.name, "url": f"/services/data/v62.0/sobjects/{sobject.name}/{row.get('Id')}"}
        }
        for expression, _ in query.select:
            assert expression.field is not None
            parts = expression.field.split(".")
            target = record
            for part in parts[:-1]:
                target = target.setdefault(part, {"attributes": {"type": part}})
            target[parts[-1]] = output(resolve(row, expression.field))
        return record

    def _aggregate(
        self, query: Query, sobject: SObject, rows: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], int]:
        grouped = {e.key().lower() for e in query.group_by}
        for expression, _ in query.select:
            if expression.function != "COUNT" and expression.key().lower() not in grouped:
                raise SoqlError("MALFORMED_QUERY", f"Field must be grouped or aggregated: {expression.field}")
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(evaluate(e, row) for e in query.group_by), []).append(row)
        if not query.group_by:
            groups = {(): rows}
        results = []
        for members in groups.values():
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            unnamed = 0
            for expression, alias in query.select:
                if expression.function == "COUNT":
                    value: Any = len(
                        [m for m in members if expression.field is None or resolve(m, expression.field) is not None]
                    )
                else:
                    value = evaluate(expression, members[0])
                if alias is None and expression.function:
                    alias = f"expr{unnamed}"
                    unnamed += 1
                record[alias or (expression.field or "").split(".")[-1]] = output(value)
            record["__members"] = members
            results.append(record)
        for expression, descending in reversed(query.order_by):
            if expression.function == "COUNT":
                results.sort(key=lambda r: len(r["__members"]), reverse=descending)
            else:
                results.sort(  # by the value itself: hour 9 before hour 11, nulls last as Salesforce puts them
                    key=lambda r, e=expression: (
                        evaluate(e, r["__members"][0]) is None,
                        evaluate(e, r["__members"][0]),
                    ),
                    reverse=descending,
                )
        for record in results:
            del record["__members"]
        if query.limit is not None:
            results = results[: query.limit]
        return results, len(results)
