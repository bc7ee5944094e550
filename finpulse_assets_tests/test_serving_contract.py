"""The served OpenAPI document against the service (schemathesis) and generated histories (hypothesis).

Both go through the in-process ASGI app: no port. Example counts are bounded so the module runs in seconds.
"""

import datetime as dt
import json
import math

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from finpulse_assets_tests.serving_support import WINDOW, served

HISTORY_DAYS = WINDOW + 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, positive_data_acceptance, missing_required_header,
          unsupported_method]
# JSON Schema cannot say "consecutive NYSE trading days" or "high >= close": a schema-valid history is almost
# never a valid one, so /predict's positive data is its runnable example (below), not generated data.
PREDICT_CHECKS = [check for check in CHECKS if check is not positive_data_acceptance]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return served(tmp_path_factory).client


@pytest.fixture(scope="module")
def operations(client):
    document = client.get("/docs.json").json()
    schema = schemathesis.openapi.from_dict(document).include(path_regex="^/(predict|sentiment)$")
    found = [result.ok() for result in schema.get_all_operations()]
    assert sorted(op.path for op in found) == ["/predict", "/sentiment"]
    return {op.path: op for op in found}


@pytest.mark.parametrize("path", ["/predict", "/sentiment"])
def test_the_service_keeps_its_openapi_document(operations, client, path):
    """Generated bodies: no 5xx, every status, content type, header and body as the document says."""
    @given(case=operations[path].as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        response = client.request(kwargs["method"], kwargs["url"], headers=kwargs.get("headers"),
                                  params=kwargs.get("params"), content=_content(kwargs))
        case.validate_response(response, checks=PREDICT_CHECKS if path == "/predict" else CHECKS)

    check()


def test_each_documented_example_is_accepted(client):
    document = client.get("/docs.json").json()
    for path in ("/predict", "/sentiment"):
        body = document["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        response = client.post(path, json=body["content"]["application/json"]["example"])
        assert response.status_code == 200, (path, response.text)
    assert document["components"]["securitySchemes"]["bearer"] == {
        **document["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    predict = document["components"]["schemas"]
    assert predict["PredictItem"]["properties"]["ticker"]["enum"] == ["AAA", "BBB"]
    assert predict["PredictItem"]["properties"]["history"]["minItems"] == HISTORY_DAYS
    assert "consecutive trading days" in predict["Bar"]["properties"]["date"]["description"]


def test_the_docs_curl_examples_are_the_documented_ones(client):
    """docs/serving.md posts /docs.json's example for /predict and spells out /sentiment's: the same body."""
    from finpulse_assets.serving.openapi import SENTIMENT_EXAMPLE
    from finpulse_assets.settings import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "serving.md").read_text()
    assert f"-d '{json.dumps(SENTIMENT_EXAMPLE)}'" in text
    assert """jq '.paths["/predict"].post.requestBody.content["application/json"].example'""" in text


def _content(kwargs):
    if "json" in kwargs:
        return json.dumps(kwargs["json"])
    return kwargs.get("data")


def finite_json(text: bytes):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def weekdays(start: dt.date, n: int) -> list[dt.date]:
    out, day = [], start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


STARTS = st.sampled_from([dt.date(2015, 6, 1), dt.date(2024, 11, 20), dt.date(1679, 1, 3), dt.date(1997, 12, 1), dt.date(1998, 1, 2), dt.date(2015, 6, 1),
                          dt.date(2024, 11, 20), dt.date(2099, 11, 20), dt.date(2261, 12, 1), dt.date(3000, 1, 1)])
PRICES = st.one_of(st.floats(0.5, 5000.0), st.floats(min_value=1e-300, max_value=1e300), st.sampled_from([1e-6, 1e9, 1e-7, 2e9, 5e-324]))
JUMPS = st.one_of(st.floats(0.9, 1.1), st.sampled_from([1e-300, 1e300, 1e15, 1e-15, 1e6, 1e-6]))
VOLUMES = st.one_of(st.floats(0, 1e20), st.integers(0, 10**17), st.sampled_from([0.0, 1e15]))


@st.composite
def histories(draw):
    from finpulse_assets.serving.calendar import day_problem, next_trading_day

    start = draw(st.one_of(STARTS, st.dates(dt.date(1998, 1, 2), dt.date(2099, 10, 1))))
    n = draw(st.integers(HISTORY_DAYS - 1, HISTORY_DAYS + 3))
    if day_problem(start) is None or day_problem(start).startswith(f"{start} is not"):
        days, day = [], start
        while len(days) < n and day <= dt.date(2099, 12, 31):
            if day_problem(day) is None:
                days.append(day)
                day = next_trading_day(day)
            else:
                day += dt.timedelta(days=1)
        days += weekdays(day, n - len(days))
    else:
        days = weekdays(start, n)
    edit = draw(st.sampled_from(["none"] * 6 + ["gap", "duplicate", "swap", "year_gap"]))
    k = draw(st.integers(1, n - 2))
    if edit == "gap":
        days.pop(k)
    elif edit == "duplicate":
        days[k] = days[k - 1]
    elif edit == "swap":
        days[k], days[k + 1] = days[k + 1], days[k]
    elif edit == "year_gap":
        days[-1] = days[-1] + dt.timedelta(days=364)
    # Calm histories (plausible prices, small moves) reach the model; wild ones probe the bounds.
    wild = draw(st.booleans())
    price = draw(PRICES if wild else st.floats(0.5, 5000.0))
    bars = []
    for day in days:
        price = min(max(price * draw(JUMPS if wild else st.floats(0.9, 1.1)), 5e-324), 1.7e308)
        spread = draw(st.sampled_from([1.0, 1.001, 1.05]))
        bars.append({"date": day.isoformat(), "open": price, "high": price * spread if math.isfinite(price * spread)
                     else price, "low": price / spread, "close": price,
                     "volume": draw(VOLUMES if wild else st.one_of(st.floats(0, 1e9), st.integers(0, 10**9)))})
    return {"ticker": draw(st.sampled_from(["AAA", "BBB", "aaa"])), "history": bars}


@given(items=st.lists(histories(), min_size=1, max_size=3))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_generated_histories_get_a_finite_forecast_or_a_4xx(client, items):
    """200 with finite numbers for every item, or a 4xx that names the problem; never a 5xx."""
    response = client.post("/predict", content=json.dumps({"requests": items}),
                           headers={"content-type": "application/json"})
    assert response.status_code == 200 or 400 <= response.status_code < 500, (response.status_code, response.text)
    body = finite_json(response.content)
    if response.status_code == 200:
        assert len(body) == len(items)
        for row in body:
            for key in ("predicted_close", "predicted_return", "last_close"):
                assert math.isfinite(row[key])
    else:
        assert body["detail"] if response.status_code in (400, 422) else body["error"]
