import os

import pytest
from one4d_geometry.threads import WAIT_POLICY_VARIABLE, apply_thread_policy


def test_thread_policy_defaults_to_passive(monkeypatch):
    monkeypatch.delenv(WAIT_POLICY_VARIABLE, raising=False)
    apply_thread_policy()
    assert os.environ[WAIT_POLICY_VARIABLE] == "PASSIVE"


@pytest.mark.parametrize("users_choice", ["ACTIVE", "passive"])
def test_thread_policy_keeps_the_users_choice(monkeypatch, users_choice):
    monkeypatch.setenv(WAIT_POLICY_VARIABLE, users_choice)
    apply_thread_policy()
    assert os.environ[WAIT_POLICY_VARIABLE] == users_choice
