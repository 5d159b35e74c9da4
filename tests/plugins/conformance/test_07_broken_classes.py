"""Point 7: one class without ``FUNCTION``, or whose ``INPUT_TYPES`` raises, no longer costs the
whole pack: the rest registers, and the bad classes are reported at ``/custom_nodes``."""
from __future__ import annotations


def test_the_rest_of_the_pack_registers_and_bad_classes_are_reported(conformance):
    pack = {p["name"]: p for p in conformance.custom_nodes()}["conformance_pack"]
    assert pack["loaded"] is True and pack["status"] == "loaded"
    assert {"ConfShow", "ConfPassthrough", "ConfHiddenInputs"} <= set(pack["nodes"])
    assert set(pack["node_errors"]) == {"ConfNoFunction", "ConfInputTypesRaises"}
    assert "FUNCTION" in pack["node_errors"]["ConfNoFunction"]
    assert "the models folder is not configured" in pack["node_errors"]["ConfInputTypesRaises"]
    info = conformance.object_info()
    assert "ConfShow" in info and "ConfNoFunction" not in info and "ConfInputTypesRaises" not in info
