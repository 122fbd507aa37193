"""Access to `params.yaml`, the single home of every tunable value, and its schema.

`load_params` checks the whole file against `Params` before any stage does any
work, so a bad value stops the first stage that runs with one line naming the
key as written in params.yaml (``classifier.max_iter must be an integer ≥ 1,
got -1``) instead of a library's traceback in a later stage. Types are strict
(``'10'`` is not a number, ``1`` is not ``true``), NaN and infinity are refused,
and unknown keys are refused except where the file holds your own values:
the ``validate.tickets/kb/queries`` sections, which expectation suites read, and
the metric names under ``gate``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from .runner import StageError

PARAMS_FILE = "params.yaml"

PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
Text = Annotated[str, Field(min_length=1)]
# scikit-learn's min_df: a count of documents, or a share of them
MinDf = PositiveInt | Annotated[float, Field(gt=0, lt=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class OpenSection(Section):
    """A section that may also hold the user's own values (for their own expectations)."""

    model_config = ConfigDict(extra="allow")


class Range(Section):
    min: Annotated[int, Field(ge=0)]
    max: PositiveInt

    @model_validator(mode="after")
    def ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be above max ({self.max})")
        return self


def _parses(parse):
    """A check that `parse` accepts the text (e.g. a real calendar date), keeping the text as it is."""

    def check(value: str) -> str:
        parse(value)
        return value

    return AfterValidator(check)


IsoDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$"), _parses(dt.date.fromisoformat)]
IsoDateTime = Annotated[
    str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"), _parses(dt.datetime.fromisoformat)
]


class IncomingBatchParams(Section):
    """`data.incoming`: the batch `make incoming` writes for the drift check."""

    seed: Seed
    n_tickets: PositiveInt
    start_date: IsoDate
    end_date: IsoDate
    shift: Literal["none", "new_topic", "label_mix", "longer_texts", "new_channel", "foreign_text"]
    share: Share


class DataParams(Section):
    seed: Seed
    n_tickets: PositiveInt
    n_kb_articles: PositiveInt
    queries_per_article: PositiveInt
    label_noise: Share
    start_date: IsoDate
    end_date: IsoDate
    incoming: IncomingBatchParams

    @model_validator(mode="after")
    def dates(self) -> DataParams:
        start, end = dt.date.fromisoformat(self.start_date), dt.date.fromisoformat(self.end_date)
        if end < start:
            raise ValueError(f"end_date ({self.end_date}) must not be before start_date ({self.start_date})")
        return self


class DateTimeRange(Section):
    min: IsoDateTime
    max: IsoDateTime

    @model_validator(mode="after")
    def ordered(self) -> DateTimeRange:
        if dt.datetime.fromisoformat(self.min) > dt.datetime.fromisoformat(self.max):
            raise ValueError(f"min ({self.min}) must not be after max ({self.max})")
        return self


class TicketChecks(OpenSection):
    min_rows: Annotated[int, Field(ge=0)]
    max_rows: PositiveInt
    text_length: Range
    created_at: DateTimeRange
    channels: Annotated[list[Text], Field(min_length=1)]


class KbChecks(OpenSection):
    min_rows: Annotated[int, Field(ge=0)]
    title_length: Range
    body_length: Range


class QueryChecks(OpenSection):
    min_rows: Annotated[int, Field(ge=0)]


class ValidateParams(Section):
    labels: Annotated[list[Text], Field(min_length=2)]
    tickets: TicketChecks
    kb: KbChecks
    queries: QueryChecks
    datetime_columns: dict[str, list[Text]]
    max_failed_rows_shown: Annotated[int, Field(ge=0)]

    @field_validator("labels")
    @classmethod
    def distinct(cls, labels: list[str]) -> list[str]:
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"labels must be distinct; repeated: {', '.join(repeated)}")
        return labels


class SplitParams(Section):
    test_size: Annotated[float, Field(gt=0, lt=1)]
    seed: Seed


def ngram_range(value: list[int]) -> list[int]:
    if value[0] > value[1]:
        raise ValueError(f"the smallest n ({value[0]}) must not be above the largest ({value[1]})")
    return value


NgramRange = Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]


def power_of_two(value: int) -> int:
    if value & (value - 1):
        raise ValueError(f"must be a power of two, e.g. 262144 (2**18) or 1048576 (2**20), got {value}")
    return value


class SgdStreamingParams(Section):
    """`classifier.sgd_streaming`: hashed TF-IDF and SGD trained chunk by chunk, for a split larger than memory."""

    n_features: Annotated[int, Field(ge=2**4, le=2**28), AfterValidator(power_of_two)]
    ngram_range: NgramRange
    sublinear_tf: bool
    chunk_size: PositiveInt
    epochs: PositiveInt
    alpha: Annotated[float, Field(gt=0)]
    class_weight: Literal["balanced"] | None
    shuffle: bool
    seed: Seed

    _ngrams = field_validator("ngram_range")(ngram_range)


class ClassifierParams(Section):
    kind: Literal["logistic", "sgd_streaming"]
    ngram_range: NgramRange
    min_df: MinDf
    max_features: PositiveInt | None
    sublinear_tf: bool
    C: Annotated[float, Field(gt=0)]
    class_weight: Literal["balanced"] | None
    max_iter: PositiveInt
    seed: Seed
    sgd_streaming: SgdStreamingParams

    _ngrams = field_validator("ngram_range")(ngram_range)


class Bm25Params(Section):
    k1: Annotated[float, Field(ge=0)]
    b: Share
    stop_words: bool


class HybridParams(Section):
    dense_weight: Share
    bm25: Bm25Params


class TfidfSvdParams(Section):
    ngram_range: NgramRange
    min_df: MinDf
    max_features: PositiveInt | None
    sublinear_tf: bool
    stop_words: bool
    n_components: PositiveInt
    seed: Seed

    _ngrams = field_validator("ngram_range")(ngram_range)


class SentenceTransformersParams(Section):
    model_path: Text
    batch_size: PositiveInt


class EncoderParams(Section):
    backend: Literal["tfidf-svd", "sentence-transformers"]
    hybrid: HybridParams
    tfidf_svd: TfidfSvdParams
    sentence_transformers: SentenceTransformersParams


class LengthBuckets(Section):
    """Word counts: fewer than `short` is very short, more than `long` very long."""

    short: PositiveInt
    long: PositiveInt

    @model_validator(mode="after")
    def ordered(self) -> LengthBuckets:
        if self.short > self.long:
            raise ValueError(f"short ({self.short}) must not be above long ({self.long})")
        return self


class LengthWords(Section):
    tickets: LengthBuckets
    queries: LengthBuckets


class EvaluateParams(Section):
    recall_at: Annotated[list[PositiveInt], Field(min_length=1)]
    curve_max_k: PositiveInt
    slices: list[Text]
    length_words: LengthWords
    min_support: PositiveInt

    @field_validator("slices")
    @classmethod
    def distinct_slices(cls, columns: list[str]) -> list[str]:
        repeated = sorted({column for column in columns if columns.count(column) > 1})
        if repeated:
            raise ValueError(f"slices must be distinct; repeated: {', '.join(repeated)}")
        return columns


class RegressionRule(Section):
    direction: Literal["higher", "lower"]
    abs_tol: Annotated[float, Field(ge=0)] = 0.0
    rel_tol: Annotated[float, Field(ge=0)] = 0.0
    required: bool = True


class GateParams(Section):
    # Floors by metric name, nested as the metrics files are: {"classification": {"accuracy": 0.85}}.
    thresholds: dict[Text, Any]
    require_must_pass: bool
    regression: dict[Text, RegressionRule] | None = None

    @field_validator("thresholds")
    @classmethod
    def numbers(cls, thresholds: dict[str, Any]) -> dict[str, Any]:
        for name, floor in flatten(thresholds).items():
            if isinstance(floor, bool) or not isinstance(floor, int | float) or not math.isfinite(floor):
                raise ValueError(f"the floor of {name} must be a number, got {_shown(floor)}")
        return thresholds


class DaskParams(Section):
    """`embed.dask`: how `embed.engine: dask` splits the work (see dask_engine.py)."""

    workers: PositiveInt  # processes of the LocalCluster, when DASK_SCHEDULER_ADDRESS is not set
    chunk_size: PositiveInt  # texts per task
    timeout_s: PositiveInt  # the stage fails when no chunk comes back for this long


class EmbedParams(Section):
    cache_dir: Text
    engine: Literal["local", "dask"]
    dask: DaskParams


class HnswParams(Section):
    m: Annotated[int, Field(ge=2)]
    ef_construction: PositiveInt
    ef_search: PositiveInt


class IndexParams(Section):
    backend: Literal["exact", "hnsw"]
    k: PositiveInt
    abstain_below: float  # retrieval answers "no answer" when the best score is below it
    latency_repeats: PositiveInt
    hnsw: HnswParams


class OovParams(Section):
    max_increase: Share


class FarParams(Section):
    quantile: Annotated[float, Field(gt=0, lt=1)]


class CategoricalParams(Section):
    columns: list[Text]
    max_unseen_share: Share


class PerformanceParams(Section):
    max_drop: Share


class DriftParams(Section):
    alpha: Annotated[float, Field(gt=0, lt=1)]
    oov: OovParams
    far: FarParams
    categorical: CategoricalParams
    performance: PerformanceParams
    max_reference_tickets: PositiveInt
    seed: Seed


class ServeParams(Section):
    """Bounds of the HTTP service, so one request cannot hold a worker."""

    max_text_length: PositiveInt
    max_batch_size: PositiveInt
    max_k: PositiveInt


class RolloutParams(Section):
    """The rules of `rollout decide`: the candidate against production on the same traffic."""

    min_requests: PositiveInt  # candidate answers needed to decide at all
    min_agreement: Share  # share of tickets labelled as production labels them (shadow traffic)
    min_search_overlap: Share  # mean share of production's top-k articles the candidate also returns
    min_labelled: PositiveInt  # answers with a feedback label, per side, before accuracy decides
    max_accuracy_drop: Share  # candidate accuracy may be this much below production's, no more
    max_error_rate: Share
    max_latency_ratio: Annotated[float, Field(gt=0)]  # candidate p95 / production p95


class Params(Section):
    """Every section of params.yaml. A section a stage does not use is still checked."""

    data: DataParams
    validate_: ValidateParams = Field(alias="validate")
    split: SplitParams
    classifier: ClassifierParams
    encoder: EncoderParams
    evaluate: EvaluateParams
    gate: GateParams
    embed: EmbedParams
    index: IndexParams
    drift: DriftParams
    serve: ServeParams | None = None  # with the HTTP service (serving=fastapi)
    rollout: RolloutParams | None = None  # with the HTTP service (serving=fastapi)


class ParamsError(StageError):
    """A value in params.yaml does not fit the schema; the message names its key."""


def load_params(path: str | os.PathLike = PARAMS_FILE) -> dict[str, Any]:
    """Load the whole parameter file, checked against the schema (stages read their own section)."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = yaml.safe_load(f)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path} is not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    check(tree, Params, source=str(path))
    return tree


def check(tree: Any, schema: Any, source: str = PARAMS_FILE, prefix: str = "") -> Any:
    """Validate `tree` against `schema` (a model or a type); raise ParamsError with one line for the first problem."""
    adapter = TypeAdapter(schema)
    try:
        return adapter.validate_python(tree)
    except ValidationError as err:
        raise ParamsError(
            f"{source}: {describe_error(err, tree, adapter.json_schema(by_alias=True), prefix)}"
        ) from None


def describe_error(err: ValidationError, tree: Any, schema: dict[str, Any], prefix: str = "") -> str:
    """One line for the first error: the dotted key, what it must be, and what it is."""
    errors = err.errors(include_url=False)
    first = errors[0]
    path, node, value, found = [], schema, tree, True
    for part in first["loc"]:
        if (
            isinstance(value, dict)
            and part in value
            or isinstance(value, list)
            and isinstance(part, int)
            and part < len(value)
        ):
            path.append(str(part))
            value, node = value[part], _child(schema, node, part)
        elif first["type"] in ("missing", "extra_forbidden") and isinstance(value, dict):
            path.append(str(part))
            node, found = _child(schema, node, part), False
            break
        else:
            break  # a union's member tag, not a key
    key = ".".join(filter(None, [prefix, *path])) or "the file"
    others = len({tuple(e["loc"][: len(path)]) for e in errors}) - 1
    more = f" (and {others} more problem{'s' if others > 1 else ''})" if others > 0 else ""
    if first["type"] == "missing":
        return f"{key} is missing: it must be {describe(schema, node)}{more}"
    if first["type"] == "extra_forbidden":
        parent = ".".join(filter(None, [prefix, *path[:-1]])) or "the top level"
        known = ", ".join(sorted(_properties(schema, _parent_node(schema, first["loc"][:-1])))) or "none"
        return f"{key} is not a known key of {parent} (known: {known}){more}"
    if first["type"] == "value_error" and found:
        reason = str(first["ctx"]["error"])
        shown = "" if ", got " in reason or isinstance(value, dict) else f", got {_shown(value)}"
        return f"{key}: {reason}{shown}{more}"
    if not found:
        return f"{key}: {first['msg']}{more}"
    return f"{key} must be {describe(schema, node)}, got {_shown(value)}{more}"


def _shown(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _resolve(schema: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any] | None:
    while node and "$ref" in node:
        node = schema["$defs"][node["$ref"].split("/")[-1]]
    return node


def _child(schema: dict[str, Any], node: dict[str, Any] | None, part: Any) -> dict[str, Any] | None:
    node = _resolve(schema, node)
    if node is None:
        return None
    for option in node.get("anyOf", []):  # e.g. a list or null: follow the member that has children
        option = _resolve(schema, option)
        if option and ("properties" in option or "items" in option or "additionalProperties" in option):
            node = option
            break
    if isinstance(part, int):
        return node.get("items")
    if part in node.get("properties", {}):
        return node["properties"][part]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _parent_node(schema: dict[str, Any], loc: tuple) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for part in loc:
        node = _child(schema, node, part)
    return _resolve(schema, node)


def _properties(schema: dict[str, Any], node: dict[str, Any] | None) -> list[str]:
    return list((node or {}).get("properties", {}))


def describe(schema: dict[str, Any], node: dict[str, Any] | None) -> str:
    """What a JSON-schema node asks for, in words: 'an integer ≥ 1', 'one of 'exact', 'hnsw''."""
    node = _resolve(schema, node)
    if not node:
        return "a valid value"
    if "anyOf" in node:
        return " or ".join(dict.fromkeys(describe(schema, option) for option in node["anyOf"]))
    if "const" in node:
        return repr(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(repr(v) for v in node["enum"])
    kind = node.get("type")
    if kind == "null":
        return "empty"
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        if "pattern" in node:
            return "a date like 2024-01-31" if "T" not in node["pattern"] else "a time like 2024-01-31T00:00:00"
        return "non-empty text" if node.get("minLength") else "text"
    if kind in ("integer", "number"):
        noun = "an integer" if kind == "integer" else "a number"
        bounds = []
        for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
            if key in node:
                bounds.append(f"{sign} {node[key]:g}")
        return f"{noun} {' and '.join(bounds)}".strip()
    if kind == "array":
        items = describe(schema, node.get("items"))
        if node.get("minItems") == node.get("maxItems") and "minItems" in node:
            return f"a list of {node['minItems']} {_plural(items)}"
        if "minItems" in node:
            return f"a list of at least {node['minItems']} {_plural(items)}"
        return f"a list of {_plural(items)}"
    if kind == "object":
        if node.get("properties"):
            return "a mapping with the keys " + ", ".join(node["properties"])
        return f"a mapping of names to {_plural(describe(schema, node.get('additionalProperties')))}"
    return "a valid value"


def _plural(description: str) -> str:
    """'an integer ≥ 1' -> 'integers ≥ 1', for list and mapping descriptions."""
    for single, many in (("an integer", "integers"), ("a number", "numbers"), ("non-empty text", "non-empty texts")):
        if description.startswith(single):
            return many + description[len(single) :]
    return description


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
