"""The JSON depth check the request paths run before parsing: exact at the limit, brackets in strings ignored,
and the bracket count shortcut never hides a deep body."""

import json

import pytest

from triageflow.service.limits import BodyRefused, nests_deeper_than, parse_json


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth,limit,deeper", [(32, 32, False), (33, 32, True), (3, 2, True), (0, 0, False)])
def test_depth_at_and_past_the_limit(depth, limit, deeper):
    assert nests_deeper_than(nested(depth), limit) is deeper


def test_brackets_inside_strings_do_not_count_even_when_there_are_many():
    raw = json.dumps({"text": "[" * 500 + "{" * 500, "escaped": '\\"[[[[', "list": [[1]]}).encode()
    assert not nests_deeper_than(raw, 3) and nests_deeper_than(raw, 1)


def test_many_shallow_brackets_pass_and_one_deep_branch_among_them_is_caught():
    shallow = json.dumps([[i] for i in range(200)]).encode()
    assert not nests_deeper_than(shallow, 2)
    deep = json.dumps([[i] for i in range(200)] + [[[[["x"]]]]]).encode()
    assert nests_deeper_than(deep, 4)
    with pytest.raises(BodyRefused, match="nests deeper than 4"):
        parse_json(deep, max_depth=4)
