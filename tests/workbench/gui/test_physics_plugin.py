"""A physics registered from outside shows up in the app by itself: in the physics list, with
its own form, its own boundary types and their start values."""

from __future__ import annotations

from typing import ClassVar, Literal

import pytest
from pydantic import Field
from PySide6 import QtWidgets

from engine.physics.base import BoundaryModel, OutputField, PhysicsModel, PhysicsSpec
from engine.physics.diffusion import Dirichlet
from engine.physics.registry import physics_kinds, register_physics, unregister_physics
from engine.physics.values import Coefficient

from .conftest import wait_job


class ReactionPhysics(PhysicsModel):
    """A plug-in physics: first-order reaction."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("rate",)
    kind: Literal["reaction"]
    rate: Coefficient = Field(1.0, description="Reaction rate.")


class Inlet(BoundaryModel):
    """A plug-in boundary condition."""

    coefficient_fields: ClassVar[tuple[str, ...]] = ("concentration",)
    start: ClassVar = {"concentration": 5.0}
    type: Literal["inlet"]
    concentration: Coefficient


REACTION = PhysicsSpec(
    kind="reaction", model=ReactionPhysics, boundaries=(Dirichlet, Inlet), outputs=(OutputField("c", "mol/m^3"),),
    units={"rate": "1/s"}, default_case={"physics": {"kind": "reaction", "rate": 3.0}},
)


@pytest.fixture
def reaction():
    register_physics(REACTION)
    yield REACTION
    unregister_physics("reaction")


def test_a_plug_in_physics_is_listed_and_edited_like_a_built_in(qtbot, window, reaction):
    assert window.new_case()
    wait_job(qtbot, window)
    panel = window.case_panel
    kind = panel.findChild(QtWidgets.QComboBox, "physics.kind")
    assert [kind.itemText(i) for i in range(kind.count())] == physics_kinds() == ["diffusion", "heat", "elasticity", "navier_stokes", "reaction"]
    kind.setCurrentText("reaction")
    case = window.session.case
    assert case.physics.kind == "reaction" and case.physics.rate == 3.0  # the spec's start values
    assert [bc.type for bc in case.boundary] == ["dirichlet"]  # the condition it takes too is kept
    assert panel.findChild(QtWidgets.QLineEdit, "physics.rate") is not None
    panel.select_region("left")
    assert [panel.condition_box.itemText(i) for i in range(panel.condition_box.count())] == ["(natural)", "dirichlet", "inlet"]
    panel.condition_box.setCurrentText("inlet")
    panel.condition_box.activated.emit(panel.condition_box.currentIndex())
    inlet = next(bc for bc in window.session.case.boundary if bc.type == "inlet")
    assert inlet.regions == ["left"] and inlet.concentration == 5.0
    panel.grab().save("/tmp/helperE_plugin_physics.png")
