"""The SQL of the span store's ingest: OTLP request bytes into ``spans`` rows, in ClickHouse.

One ``INSERT ... SELECT`` (:func:`span_insert_sql`) reads the requests with ClickHouse's
Protobuf input format (:data:`~axonize_backend.schema.SPAN_SCHEMA`) and turns them into rows:
no span is walked in Python.  ``gpu.N.*`` attributes are read back by :func:`gpu_records_sql`
for the GPU registry.  Nothing here comes from request input but the request bytes, which
ClickHouse decodes; query values go as parameters (``{name:Type}``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axonize_backend.schema import (
    ARRAY_MARK,
    ATTRIBUTE_COLUMNS,
    COLUMN_KEYS,
    EVENTS_MARK,
    GPU_FIELDS,
    ID_ERROR,
    KVLIST_MARK,
    SPAN_COLUMNS,
    SPAN_MESSAGE,
    SPAN_SCHEMA,
)
from axonize_core import semconv as sc
from axonize_core.cost import TOKEN_INPUT_KEYS, TOKEN_MODEL_KEYS, TOKEN_OUTPUT_KEYS, PriceTable

HEX = frozenset("0123456789abcdef")


def sql_string(text: str) -> str:
    """``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def hex_array(values: list[str]) -> str:
    """An ``Array(String)`` literal of lowercase hex strings (ValueError for anything else)."""
    if not all(v and all(c in HEX for c in v) for v in values):
        raise ValueError("expected lowercase hex ids")
    return "[" + ",".join(f"'{v}'" for v in values) + "]"


#: The settings that make ClickHouse read request bytes with :data:`SPAN_SCHEMA`.
FORMAT_SETTINGS: dict[str, Any] = {
    "format_schema": SPAN_SCHEMA,
    "format_schema_source": "string",
    "format_schema_message_name": SPAN_MESSAGE,
}


def dedup_settings(token: str) -> dict[str, Any]:
    """Settings that make a repeated insert with the same ``token`` store nothing again (the
    tables keep a deduplication window, see migration 0004)."""
    if not token:
        return {}
    return {
        "insert_deduplication_token": token,
        "deduplicate_blocks_in_dependent_materialized_views": 1,
    }


def settings_clause(settings: dict[str, Any]) -> str:
    """`` SETTINGS a = 'x', b = 1`` for a query's text."""
    return " SETTINGS " + ", ".join(
        f"{k} = {v if isinstance(v, int) else sql_string(str(v))}" for k, v in settings.items()
    )


def frame(bodies: Iterable[bytes]) -> bytes:
    """Requests as ClickHouse's Protobuf format reads them: each after its varint length."""
    out = bytearray()
    for body in bodies:
        n = len(body)
        while n > 0x7F:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
        out += body
    return bytes(out)


def _text_sql(v: str) -> str:
    """SQL: the stored text of the AnyValue tuple ``v`` (only its present member is not NULL)."""
    return (
        f"coalesce({v}.string_value, {v}.int_value, {v}.double_value, {v}.bool_value, "
        f"lower(hex({v}.bytes_value)), "
        f"concat({sql_string(ARRAY_MARK)}, base64Encode({v}.array_value)), "
        f"concat({sql_string(KVLIST_MARK)}, base64Encode({v}.kvlist_value)), '')"
    )


def _number_sql(v: str) -> str:
    """SQL: the AnyValue tuple ``v`` as a Float64 if it is a number, else NULL."""
    return f"toFloat64(coalesce({v}.int_value, {v}.double_value))"


#: Per span: its attribute keys, their stored texts and their numbers.
_SPAN_VALUES = (
    "sp.attributes.key AS keys",
    f"arrayMap(v -> {_text_sql('v')}, sp.attributes.value) AS texts",
    f"arrayMap(v -> {_number_sql('v')}, sp.attributes.value) AS nums",
)


def _each_span(source: str) -> str:
    """A subquery of one row per span (``sp``) with its resource's keys and texts and its
    service; what belongs to a resource is worked out once per resource, not per span."""
    return (
        "(SELECT res_keys, res_texts, service, sp FROM (\n"
        "    SELECT rs.resource.attributes.key AS res_keys,\n"
        f"      arrayMap(v -> {_text_sql('v')}, rs.resource.attributes.value) AS res_texts,\n"
        "      if(has(res_keys, 'service.name'), res_texts[indexOf(res_keys, 'service.name')],"
        " 'unknown_service') AS service,\n"
        "      rs.scope_spans AS scope_spans\n"
        f"    FROM {source} ARRAY JOIN resource_spans AS rs)\n"
        "  ARRAY JOIN scope_spans AS ss ARRAY JOIN ss.spans AS sp)"
    )


def _gpu_key(attribute: str) -> str:
    return sql_string("^gpu\\.[0-9]+\\." + attribute.replace(".", "\\.") + "$")


#: The most SQL token pricing may add to the insert (ClickHouse's max_query_size is 256 KiB).
MAX_PRICING_SQL = 160_000


def _float_array(values: Iterable[float]) -> str:
    return "CAST([" + ", ".join(repr(float(v)) for v in values) + "] AS Array(Float64))"


def token_cost_sql(prices: PriceTable | None) -> str | None:
    """SQL: what a span's tokens cost in USD at ``prices``, NULL where its model has no price
    (None when ``prices`` has no token price at all).

    The same lookup as :meth:`~axonize_core.cost.PriceTable.token_prices` and the collector's
    cost processor, on the same keys (:data:`~axonize_core.cost.TOKEN_MODEL_KEYS`, ...), done by
    ClickHouse on every span of the insert: the model is the first of those attributes that is
    set, the token counts the first present (absent: 0).  Prices are literals of the query."""
    if prices is None:
        return None
    exact, hosted = prices.token_tables()
    if not exact and not hosted:
        return None
    texts = ", ".join(f"texts[indexOf(keys, {sql_string(k)})]" for k in TOKEN_MODEL_KEYS)
    model = f"(arrayFirst(tok_m -> tok_m != '', [{texts}]) AS tok_model)"

    def tokens(keys: tuple[str, ...]) -> str:
        found = ", ".join(f"nums[indexOf(keys, {sql_string(k)})]" for k in keys)
        return f"ifNull(coalesce({found}), 0)"

    tokens_in, tokens_out = tokens(TOKEN_INPUT_KEYS), tokens(TOKEN_OUTPUT_KEYS)

    def cost(ins: str, outs: str, at: str) -> str:
        return f"({tokens_in} * {ins}[{at}] + {tokens_out} * {outs}[{at}]) / 1000"

    expr = "NULL"
    if hosted:
        # The longest prefix of the name that the table holds: one hash lookup (transform) per
        # prefix length, longest first, rather than a scan of every prefix per span.
        name = "lower(arrayElement(splitByChar('/', tok_model), -1))"
        ins, outs = _float_array(i for _, i, _ in hosted), _float_array(o for _, _, o in hosted)
        lengths = sorted({len(k) for k, _, _ in hosted}, reverse=True)
        arms = []
        for n, length in enumerate(lengths):
            keys = [(k, at) for at, (k, _, _) in enumerate(hosted, 1) if len(k) == length]
            names = "[" + ", ".join(sql_string(k) for k, _ in keys) + "]"
            ats = "CAST([" + ", ".join(str(at) for _, at in keys) + "] AS Array(UInt32))"
            source = "(" + name + " AS tok_name)" if n == 0 else "tok_name"
            arms.append(f"(transform(substring({source}, 1, {length}), {names}, {ats}, "
                        f"toUInt32(0)) AS tok_h{n}) > 0, tok_h{n}")
        found = f"multiIf({', '.join(arms)}, toUInt32(0))"
        expr = f"if(({found} AS tok_h) > 0, {cost(ins, outs, 'tok_h')}, NULL)"
    if exact:  # each list written once, then named
        names = "([" + ", ".join(sql_string(k) for k, _, _ in exact) + "] AS tok_names)"
        ins = f"({_float_array(i for _, i, _ in exact)} AS tok_ins)"
        outs = f"({_float_array(o for _, _, o in exact)} AS tok_outs)"
        at = (f"if((indexOf({names}, tok_model) AS tok_e) > 0, tok_e, "
              "indexOf(tok_names, splitByChar(':', tok_model)[1]))")
        expr = f"if(({at} AS tok_x) > 0, {cost(ins, outs, 'tok_x')}, {expr})"
    sql = f"if({model} = '', NULL, {expr})"
    if len(sql) > MAX_PRICING_SQL:
        raise ValueError(
            f"the price table holds too many token prices ({len(exact)} from the price file, "
            f"{len(hosted)} shipped) to price spans inside the ClickHouse insert: its SQL would "
            f"take {len(sql):,} of ClickHouse's 262,144 query bytes; keep the price file to "
            "the models you use, or set AXONIZE_PRICE_TOKENS=0")
    return sql


def span_insert_sql(db: str, source: str, token_cost: str | None = None) -> str:
    """``INSERT`` of the spans of the requests in ``source`` (rows of
    :data:`~axonize_backend.schema.SPAN_STRUCTURE`) into ``{db}.spans`` for the tenant given as
    the ``tenant`` parameter; spans with no ``cost.total_usd`` are priced with ``token_cost``
    (:func:`token_cost_sql`) if given.  A span whose ids have the wrong length fails the whole
    insert (:func:`~axonize_backend.otlp.check_ids` keeps them out before that)."""
    return (f"INSERT INTO {db}.spans ({', '.join(SPAN_COLUMNS)})\n"
            + span_rows_sql(source, token_cost))


def span_check_sql(source: str, token_cost: str | None = None) -> str:
    """A query that decodes and computes every row :func:`span_insert_sql` would insert, and
    stores nothing: it fails where the insert would fail on the data."""
    return f"SELECT sum(cityHash64(*)) AS h FROM ({span_rows_sql(source, token_cost)})"


def span_rows_sql(source: str, token_cost: str | None = None) -> str:
    """The ``SELECT`` of :func:`span_insert_sql`: the ``spans`` rows of ``source``."""

    def text(key: str) -> str:
        return f"texts[indexOf(keys, {sql_string(key)})]"

    def first_text(column: str) -> str:
        a, b = ATTRIBUTE_COLUMNS[column]
        return f"if({text(a)} != '', {text(a)}, {text(b)})"

    def first_number(column: str) -> str:
        names = ATTRIBUTE_COLUMNS[column]
        return "coalesce(" + ", ".join(f"nums[indexOf(keys, {sql_string(n)})]" for n in names) + ")"

    def count(column: str) -> str:  # NULL when absent, negatives as 0
        n = first_number(column)
        return f"toUInt32(if({n} < 0, 0, {n}))"

    column_keys = "[" + ", ".join(sql_string(k) for k in COLUMN_KEYS) + "]"
    invalid = (
        "length(sp.trace_id) != 16 OR length(sp.span_id) != 8 "
        "OR length(sp.parent_span_id) NOT IN (0, 8)"
    )
    gpu_index = "toUInt32(extract(kt.1, '^gpu\\\\.([0-9]+)\\\\.'))"
    columns = {
        "tenant_id": "{tenant:String}",
        "start_time": "fromUnixTimestamp64Nano(toInt64(sp.start_time_unix_nano), 'UTC')",
        "duration_ns": "if(sp.end_time_unix_nano > sp.start_time_unix_nano, "
        "sp.end_time_unix_nano - sp.start_time_unix_nano, 0)",
        "trace_id": "toFixedString(sp.trace_id, 16)",
        "span_id": "toFixedString(sp.span_id, 8)",
        "parent_span_id": "toFixedString(sp.parent_span_id, 8)",
        "name": "sp.name",
        "kind": f"toUInt8(sp.kind) + throwIf({invalid}, '{ID_ERROR}')",
        "service": "service",
        "status_code": "toUInt8(sp.status.code)",
        "status_message": "sp.status.message",
        "operation": first_text("operation"),
        "model": first_text("model"),
        "provider": first_text("provider"),
        "tokens_input": count("tokens_input"),
        "tokens_output": count("tokens_output"),
        "ttft_ms": f"toFloat32({first_number('ttft_ms')})",
        "tokens_per_second": f"toFloat32({first_number('tokens_per_second')})",
        "gpu_uuids": "arrayFilter(x -> x != '', arrayMap(kt -> kt.2, arraySort("
        f"kt -> {gpu_index}, arrayFilter((kt) -> match(kt.1, "
        f"{_gpu_key(sc.GPU_UUID)}), arrayZip(keys, texts)))))",
        "gpu_utilization": "toFloat32(if(empty(gpu_utils), NULL, arrayAvg(gpu_utils)))",
        "gpu_seconds": f"ifNull({first_number('gpu_seconds')}, 0)",
        "cost_usd": f"ifNull({first_number('cost_usd')}, 0)" if token_cost is None
        else f"ifNull(coalesce({first_number('cost_usd')}, {token_cost}), 0)",
        "attributes": f"mapFromArrays(arrayFilter(k -> NOT has({column_keys}, k), keys), "
        f"arrayFilter((t, k) -> NOT has({column_keys}, k), texts, keys))",
        "resource": "mapFromArrays(res_keys, res_texts)",
        "events": f"if(empty(sp.events), '', concat({sql_string(EVENTS_MARK)}, "
        "arrayStringConcat(arrayMap(e -> base64Encode(e), sp.events), ',')))",
    }
    gpu_utils = (
        "arrayMap(n -> assumeNotNull(n), arrayFilter((n, k) -> n IS NOT NULL AND "
        f"match(k, {_gpu_key(sc.GPU_UTILIZATION_AVG_PCT)}), nums, keys)) AS gpu_utils"
    )
    select = ",\n    ".join(
        [*_SPAN_VALUES, gpu_utils, *(f"{columns[c]} AS x_{c}" for c in SPAN_COLUMNS)]
    )
    return (
        f"SELECT {', '.join('x_' + c for c in SPAN_COLUMNS)} FROM (\n"
        f"  SELECT\n    {select}\n  FROM {_each_span(source)})"
    )


def gpu_records_sql(source: str) -> str:
    """``SELECT`` of every distinct GPU (``gpu.N.*`` with a uuid) the spans in ``source`` name,
    with the service naming it: rows of ``service`` and ``fields``
    (:data:`~axonize_backend.schema.GPU_FIELDS`)."""
    fields = "[" + ", ".join(sql_string(f) for f in GPU_FIELDS) + "]"
    return (
        "SELECT DISTINCT service, arrayMap(f -> attrs[concat(prefix, f)], "
        f"{fields}) AS fields FROM (\n"
        f"  SELECT service, {', '.join(_SPAN_VALUES)}, mapFromArrays(keys, texts) AS attrs,\n"
        f"    arrayFilter(k -> match(k, {_gpu_key(sc.GPU_UUID)}), keys) AS uuid_keys\n"
        f"  FROM {_each_span(source)}\n  WHERE notEmpty(uuid_keys))\n"
        f"ARRAY JOIN arrayMap(k -> substring(k, 1, length(k) - {len(sc.GPU_UUID)}), uuid_keys)"
        " AS prefix"
    )
