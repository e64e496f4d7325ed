"""Signatures: inferred from data and predictions, enforced before a model predicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.errors import InvalidArgumentError, SignatureError
from loopml.models import ColumnSpec, Signature, infer_signature


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 28],
            "income": [1200.5, 3400.0, None],
            "city": pd.Categorical(["paris", "lyon", "paris"]),
            "plan": ["basic", "pro", "basic"],
            "email": ["a@x.org", "b@x.org", "c@x.org"],
            "active": [True, False, True],
            "joined": pd.to_datetime(["2024-01-02", "2024-03-04", "2024-05-06"]),
        }
    )


def test_inferred_from_training_data_and_predictions() -> None:
    sig = infer_signature(frame(), np.array([0, 1, 0]), personal=["email"], categorical=["plan"])
    by_name = {c.name: c for c in sig.inputs}
    assert [c.name for c in sig.inputs] == list(frame().columns)
    assert by_name["age"] == ColumnSpec("age", "integer")
    assert by_name["income"] == ColumnSpec("income", "float", nullable=True)
    assert by_name["city"] == ColumnSpec("city", "category", categories=["lyon", "paris"])
    assert by_name["plan"].type == "string" and by_name["plan"].categories == ["basic", "pro"]
    assert by_name["active"].type == "boolean" and by_name["joined"].type == "datetime"
    assert by_name["email"].personal and sig.personal_columns == ["email"]
    assert sig.outputs == [ColumnSpec("prediction", "integer")]
    assert sig.input_format == "dataframe"


def test_json_round_trip() -> None:
    sig = infer_signature(frame(), pd.Series([0.1, 0.2, 0.3], name="score"), personal=["email"])
    again = Signature.from_json(sig.to_json())
    assert again == sig
    assert Signature.from_json(sig.to_dict()) == sig
    assert again.outputs == [ColumnSpec("score", "float")]


def test_unknown_personal_or_categorical_columns_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="'phone'"):
        infer_signature(frame(), personal=["phone"])
    with pytest.raises(InvalidArgumentError, match="'nope'"):
        infer_signature(frame(), categorical=["nope"])


def test_missing_column_names_it_and_what_was_expected() -> None:
    sig = infer_signature(frame())
    with pytest.raises(SignatureError) as info:
        sig.validate(frame().drop(columns=["age"]))
    assert info.value.column == "age"
    assert "column 'age' is missing (expected integer)" in str(info.value)
    assert isinstance(info.value, InvalidArgumentError)


def test_unknown_category_names_the_value_and_the_known_ones() -> None:
    sig = infer_signature(frame(), categorical=["plan"])
    bad = frame().assign(city=["paris", "nice", "lyon"])
    with pytest.raises(
        SignatureError, match=r"column 'city' has unknown category 'nice' \(known: 'lyon', 'paris'\)"
    ):
        sig.validate(bad)
    with pytest.raises(SignatureError, match="column 'plan' has unknown category 'gold'"):
        sig.validate(frame().assign(plan=["gold", "pro", "basic"]))


def test_wrong_type_names_column_expected_and_received() -> None:
    sig = infer_signature(frame())
    with pytest.raises(SignatureError) as info:
        sig.validate(frame().assign(age=["old", "young", "old"]))
    message = str(info.value)
    assert "column 'age' should be integer but holds string values, e.g. 'old'" in message
    assert "send whole numbers" in message


def test_every_problem_is_listed_at_once() -> None:
    sig = infer_signature(frame())
    bad = frame().drop(columns=["age"]).assign(active=["yes", "no", "yes"])
    with pytest.raises(SignatureError) as info:
        sig.validate(bad)
    assert len(info.value.problems) == 2
    assert {"age", "active"} <= {p.split("'")[1] for p in info.value.problems}


def test_missing_values_where_the_model_saw_none() -> None:
    sig = infer_signature(frame())
    with pytest.raises(SignatureError, match="column 'age' has 1 missing value"):
        sig.validate(frame().assign(age=[31, None, 28]))
    sig.validate(frame().assign(income=[None, None, None]))  # nullable: fine


def test_int_to_float_is_coerced_and_extra_columns_are_reported() -> None:
    sig = infer_signature(frame())
    data = frame().assign(income=[1, 2, 3], extra1=1, extra2="x")
    out, notes = sig.validate(data)
    assert out["income"].dtype == np.float64
    assert list(out.columns) == list(frame().columns)
    assert notes == ["column(s) 'extra1', 'extra2' not in the signature: ignored"]


def test_other_safe_coercions() -> None:
    sig = infer_signature(frame())
    out, _ = sig.validate(
        frame().assign(
            age=[31.0, 45.0, 28.0], joined=["2024-01-02", "2024-03-04", "2024-05-06"], city=["paris"] * 3
        )
    )
    assert out["age"].dtype == np.int64
    assert out["joined"].dtype.kind == "M"
    assert isinstance(out["city"].dtype, pd.CategoricalDtype)
    assert list(out["city"].cat.categories) == ["lyon", "paris"]
    with pytest.raises(SignatureError, match="column 'age' should be integer but holds float"):
        sig.validate(frame().assign(age=[31.5, 45.0, 28.0]))


def test_rows_dicts_and_arrays_are_converted() -> None:
    sig = infer_signature(pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}))
    one, _ = sig.validate({"y": 2, "x": 1.5})
    assert one.to_dict("records") == [{"x": 1.5, "y": 2.0}]
    rows, _ = sig.validate([{"x": 1, "y": 2}, {"x": 3, "y": 4}])
    assert rows["x"].tolist() == [1.0, 3.0]
    array, _ = sig.validate(np.array([[1.0, 2.0]]))
    assert array.to_dict("records") == [{"x": 1.0, "y": 2.0}]


def test_array_training_data_gives_an_array_signature() -> None:
    sig = infer_signature(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert sig.input_format == "ndarray"
    assert [c.name for c in sig.inputs] == ["0", "1"]
    assert [c.type for c in sig.inputs] == ["float", "float"]


def test_bad_specs_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="signature type"):
        ColumnSpec("a", "decimal")
    with pytest.raises(InvalidArgumentError, match="more than once"):
        Signature([ColumnSpec("a", "float"), ColumnSpec("a", "float")])
