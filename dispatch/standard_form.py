"""A built Pyomo model compiled once into HiGHS's matrix form, its parameters as affine maps.

Pyomo states the model (:mod:`dispatch.model`); this module turns it into
the arrays HiGHS solves — ``min cᵀx + c₀ s.t. L ≤ Ax ≤ U, l ≤ x ≤ u, x_j ∈ ℤ
(j ∈ I)`` — and keeps, for every number that depends on mutable ``Param``
values, its affine map ``value = a₀ + Σ_k a_k p_k`` over the vector ``p`` of
those values. A rolling horizon then updates a reused model by one sparse
product and a handful of vectorised HiGHS calls, instead of walking Pyomo's
expression trees at every re-plan (which costs more than HiGHS's own solve
on the reference park; see docs/benchmarks.md).

What stays with Pyomo: the values of the parameters, whether a constraint
is active (an inactive one keeps its row with infinite bounds), and variable
bounds and domains: those of the *watched* variables (the ones the model's
setters change, e.g. integer decisions relaxed beyond an integer horizon)
are read again at every update, the others once.

*Frozen* parameters (the step length, a store's retention per step) are
fixed by the model's shape: they are folded into the coefficients they
multiply, which keeps every map affine, and :meth:`StandardForm.update`
refuses to run if one of them has changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.core.expr.numeric_expr import (
    DivisionExpression,
    NegationExpression,
    ProductExpression,
    SumExpression,
)
from pyomo.core.expr.numvalue import native_numeric_types
from pyomo.repn import generate_standard_repn

INF = highspy.kHighsInf


class NotAffineError(ValueError):
    """A model number is not affine in the mutable parameters (a modelling bug, not a user error)."""


@dataclass
class _Affine:
    """Affine maps ``value_k = const_k + Σ_j coef_kj p_j``, collected target by target."""

    const: list[float]
    rows: list[int]
    cols: list[int]
    vals: list[float]

    @classmethod
    def empty(cls) -> _Affine:
        return cls([], [], [], [])

    def add(self, const: float, terms: dict[int, float]) -> int:
        k = len(self.const)
        self.const.append(const)
        for slot, coef in terms.items():
            self.rows.append(k)
            self.cols.append(slot)
            self.vals.append(coef)
        return k

    def freeze(self, n_slots: int) -> tuple[np.ndarray, sp.csr_matrix]:
        matrix = sp.csr_matrix((self.vals, (self.rows, self.cols)), shape=(len(self.const), n_slots))
        return np.asarray(self.const, dtype=float), matrix


class StandardForm:
    """The matrix form of a built Pyomo model, for HiGHS, with parametric updates.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        A built model whose objectives and constraints are linear in its
        variables; every number in them affine in its mutable parameters
        (once the ``frozen`` ones are fixed).
    frozen : iterable of Param components
        Parameters fixed by the model's shape (folded into coefficients).
    watch : iterable of Var components
        Variables whose bounds or domains the model's setters change between
        updates; they are read again at every :meth:`update`. The bounds and
        domains of all other variables are read once, here.

    Attributes
    ----------
    highs : highspy.Highs
        The solver instance holding the model.
    variables : list of VarData
        Column ``j`` is ``variables[j]``.
    """

    def __init__(self, model: pyo.ConcreteModel, frozen: Iterable = (), watch: Iterable = ()) -> None:
        self.model = model
        self._frozen = {id(data): data for component in frozen for data in component.values()}
        self._frozen_values = {key: float(pyo.value(data)) for key, data in self._frozen.items()}
        self._slots: dict[int, int] = {}
        self.parameters: list = []          # slot → ParamData
        self.variables = list(model.component_data_objects(pyo.Var, descend_into=True, sort=True))
        self._column = {id(v): j for j, v in enumerate(self.variables)}
        self._component_columns: dict[str, dict] = {}
        for j, v in enumerate(self.variables):
            self._component_columns.setdefault(v.parent_component().name, {})[v.index()] = j
        watched = {id(component) for component in watch}
        self._watched = np.array([j for j, v in enumerate(self.variables) if id(v.parent_component()) in watched],
                                 dtype=np.int32)
        self._expressions: dict[str, tuple] = {}
        self._coef_by_column: tuple | None = None
        self._compile()

    # -- compilation ------------------------------------------------------
    def _slot(self, param) -> int:
        key = id(param)
        if key not in self._slots:
            self._slots[key] = len(self.parameters)
            self.parameters.append(param)
        return self._slots[key]

    def _affine(self, expr) -> tuple[float, dict[int, float]]:
        """``expr`` (no variables but fixed ones) as ``(constant, {slot: coefficient})``."""
        if expr is None:
            return 0.0, {}
        if expr.__class__ in native_numeric_types:
            return float(expr), {}
        if not expr.is_expression_type():
            if expr.is_parameter_type() and not expr.is_constant() and id(expr) not in self._frozen:
                return 0.0, {self._slot(expr): 1.0}
            if expr.is_variable_type() and not expr.fixed:
                raise NotAffineError(f"{expr.name}: a free variable where only data may stand")
            return float(pyo.value(expr)), {}
        if isinstance(expr, SumExpression):
            constant, terms = 0.0, {}
            for arg in expr.args:
                c, t = self._affine(arg)
                constant += c
                for slot, coef in t.items():
                    terms[slot] = terms.get(slot, 0.0) + coef
            return constant, terms
        if isinstance(expr, NegationExpression):
            c, t = self._affine(expr.args[0])
            return -c, {slot: -coef for slot, coef in t.items()}
        if isinstance(expr, ProductExpression):
            (c1, t1), (c2, t2) = self._affine(expr.args[0]), self._affine(expr.args[1])
            if t1 and t2:
                raise NotAffineError(f"{expr}: a product of two mutable parameters; freeze one of them")
            scale, (c, t) = (c1, (c2, t2)) if not t1 else (c2, (c1, t1))
            return scale * c, {slot: scale * coef for slot, coef in t.items()}
        if isinstance(expr, DivisionExpression):
            (c1, t1), (c2, t2) = self._affine(expr.args[0]), self._affine(expr.args[1])
            if t2:
                raise NotAffineError(f"{expr}: division by a mutable parameter; freeze it")
            return c1 / c2, {slot: coef / c2 for slot, coef in t1.items()}
        if not any(True for _ in _mutable_leaves(expr, self._frozen)):
            return float(pyo.value(expr)), {}
        raise NotAffineError(f"{expr}: {type(expr).__name__} of mutable parameters is not affine")

    def _linear(self, expr, targets: _Affine) -> tuple[list[int], list[int], tuple[float, dict[int, float]]]:
        """Columns, coefficient targets and the affine constant of a linear expression."""
        repn = generate_standard_repn(expr, compute_values=False, quadratic=False)
        if repn.nonlinear_expr is not None or repn.quadratic_vars:
            raise NotAffineError(f"{expr}: not linear in the variables")
        columns, coefficients = [], []
        merged: dict[int, tuple[float, dict[int, float]]] = {}
        for coef, var in zip(repn.linear_coefs, repn.linear_vars):
            j = self._column[id(var)]
            c, t = self._affine(coef)
            if j in merged:
                c0, t0 = merged[j]
                for slot, value in t0.items():
                    t[slot] = t.get(slot, 0.0) + value
                c += c0
            merged[j] = (c, t)
        for j, (c, t) in merged.items():
            columns.append(j)
            coefficients.append(targets.add(c, t))
        return columns, coefficients, self._affine(repn.constant)

    def _compile(self) -> None:
        m = self.model
        targets = _Affine.empty()
        self.constraints = list(m.component_data_objects(pyo.Constraint, active=None, descend_into=True, sort=True))
        coef_row, coef_col, coef_target = [], [], []
        lower_target, upper_target = [], []
        for i, con in enumerate(self.constraints):
            lower, body, upper = con.to_bounded_expression()
            columns, coefficients, constant = self._linear(body, targets)
            coef_row += [i] * len(columns)
            coef_col += columns
            coef_target += coefficients
            lc, lt = self._affine(lower)
            uc, ut = self._affine(upper)
            # body + constant within [lower, upper]  ⇔  Ax within [lower − constant, upper − constant]
            c_const, c_terms = constant
            lower_target.append(targets.add(lc - c_const, _minus(lt, c_terms)) if lower is not None
                                else targets.add(-INF, {}))
            upper_target.append(targets.add(uc - c_const, _minus(ut, c_terms)) if upper is not None
                                else targets.add(INF, {}))
        self.objectives = {}
        for objective in m.component_data_objects(pyo.Objective, active=None, descend_into=True, sort=True):
            sense = 1.0 if objective.sense == pyo.minimize else -1.0
            columns, coefficients, constant = self._linear(objective.expr, targets)
            self.objectives[objective.name] = (sense, np.asarray(columns, dtype=np.int64),
                                               np.asarray(coefficients, dtype=np.int64), targets.add(*constant))
        self._const, self._map = targets.freeze(len(self.parameters))
        self._coef_row = np.asarray(coef_row, dtype=np.int32)
        self._coef_col = np.asarray(coef_col, dtype=np.int32)
        self._coef_target = np.asarray(coef_target, dtype=np.int64)
        self._lower_target = np.asarray(lower_target, dtype=np.int64)
        self._upper_target = np.asarray(upper_target, dtype=np.int64)
        dynamic = np.asarray(self._map.getnnz(axis=1) > 0)
        self._dynamic_coef = np.flatnonzero(dynamic[self._coef_target])
        self.n_cols = len(self.variables)
        self.n_rows = len(self.constraints)
        self._pass_model()

    def _pass_model(self) -> None:
        values = self._values()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_cols, self.n_rows
        lower, upper, integer = self._column_data(range(self.n_cols))
        self._lower, self._upper = lower, upper
        lp.col_cost_ = np.zeros(self.n_cols)
        lp.col_lower_, lp.col_upper_ = lower, upper
        lp.row_lower_, lp.row_upper_ = self._row_bounds(values)
        matrix = sp.csc_matrix((values[self._coef_target], (self._coef_row, self._coef_col)),
                               shape=(self.n_rows, self.n_cols))
        matrix.sort_indices()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(float)
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n_cols, self.n_rows
        lp.integrality_ = [highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous for k in integer]
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        status = self.highs.passModel(lp)
        if status == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS refused the compiled model")
        self._integer = integer
        self._objective_name: str | None = None

    # -- updates ----------------------------------------------------------
    def _values(self) -> np.ndarray:
        """Every compiled number at the parameters' current values (``self._p`` keeps those values)."""
        self._p = np.fromiter((data.value for data in self.parameters), dtype=float, count=len(self.parameters))
        # Expressions compiled after the model may have added parameters the model's numbers do not use.
        return self._const + self._map @ self._p[: self._map.shape[1]]

    def _row_bounds(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lower = values[self._lower_target].copy()
        upper = values[self._upper_target].copy()
        inactive = np.fromiter((not con.active for con in self.constraints), dtype=bool, count=self.n_rows)
        lower[inactive], upper[inactive] = -INF, INF
        return lower, upper

    def _column_data(self, columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bounds and integrality of ``columns``, read from the Pyomo variables."""
        n = len(columns)
        lower, upper = np.empty(n), np.empty(n)
        integer = np.zeros(n, dtype=bool)
        variables = self.variables
        for k, j in enumerate(columns):
            v = variables[j]
            if v.fixed:
                lower[k] = upper[k] = v.value
                continue
            lb, ub = v.bounds
            lower[k] = -INF if lb is None else lb
            upper[k] = INF if ub is None else ub
            integer[k] = v.is_integer()
        return lower, upper, integer

    def update(self, objective: str) -> None:
        """Push the model's current parameter values, bounds, domains and activity to HiGHS.

        Parameters
        ----------
        objective : str
            Name of the objective component to minimize.
        """
        for key, data in self._frozen.items():
            if not math.isclose(float(pyo.value(data)), self._frozen_values[key], rel_tol=1e-12, abs_tol=1e-12):
                raise RuntimeError(f"{data.name}: a frozen parameter changed; build a new model for this shape")
        h = self.highs
        values = self._values_now = self._values()
        cols = np.arange(self.n_cols, dtype=np.int32)
        watched = self._watched
        if len(watched):
            lower, upper, integer = self._column_data(watched)
            self._lower[watched], self._upper[watched] = lower, upper
            h.changeColsBounds(len(watched), watched, lower, upper)
            changed = watched[integer != self._integer[watched]]
            if len(changed):
                self._integer[watched] = integer
                h.changeColsIntegrality(len(changed), changed, np.where(self._integer[changed], 1, 0).astype(np.uint8))
        row_lower, row_upper = self._row_bounds(values)
        self._row_lower, self._row_upper = row_lower, row_upper
        self._coef_values = values[self._coef_target]
        rows = np.arange(self.n_rows, dtype=np.int32)
        h.changeRowsBounds(self.n_rows, rows, row_lower, row_upper)
        for k in self._dynamic_coef:
            h.changeCoeff(int(self._coef_row[k]), int(self._coef_col[k]), float(values[self._coef_target[k]]))
        sense, columns, coefficients, constant = self.objectives[objective]
        cost = np.zeros(self.n_cols)
        np.add.at(cost, columns, sense * values[coefficients])
        h.changeColsCost(self.n_cols, cols, cost)
        h.changeObjectiveOffset(float(sense * values[constant]))
        self._cost, self._offset = cost, float(sense * values[constant])
        self._objective_name = objective

    def objective_value(self, x: np.ndarray, name: str | None = None) -> float:
        """An objective (default: the one HiGHS minimizes) at ``x``, as of the last :meth:`update`."""
        if name is None or name == self._objective_name:
            return float(self._cost @ x + self._offset)
        sense, columns, coefficients, constant = self.objectives[name]
        return float(sense * (self._values_now[coefficients] @ x[columns] + self._values_now[constant]))

    def round_integers(self, x: np.ndarray, columns: np.ndarray, tolerance: float = 1e-6) -> np.ndarray | None:
        """``x`` with ``columns`` made integer while every row and bound still holds, or ``None``.

        Column by column, the nearest integer is tried, then the one above and
        the one below; a value is kept when the rows the column enters stay
        within their bounds (``tolerance`` absolute, plus 1e-9 relative).
        Continuous columns keep their values, so when the integer columns carry
        no cost the objective is unchanged.
        """
        if self._coef_by_column is None:
            order = np.argsort(self._coef_col, kind="stable")
            self._coef_by_column = (order, np.searchsorted(self._coef_col[order], np.arange(self.n_cols + 1)))
        order, starts = self._coef_by_column
        data = self._coef_values
        activity = np.bincount(self._coef_row, weights=data * x[self._coef_col], minlength=self.n_rows)
        lower, upper = self._row_lower, self._row_upper
        y = x.copy()
        for j in columns:
            entries = order[starts[j]:starts[j + 1]]
            rows, a = self._coef_row[entries], data[entries]
            slack = tolerance + 1e-9 * np.maximum(np.abs(np.where(np.isfinite(lower[rows]), lower[rows], 0.0)),
                                                  np.abs(np.where(np.isfinite(upper[rows]), upper[rows], 0.0)))
            for value in (np.round(y[j]), np.ceil(y[j] - 1e-9), np.floor(y[j] + 1e-9)):
                if not self._lower[j] - 1e-9 <= value <= self._upper[j] + 1e-9:
                    continue
                moved = activity[rows] + a * (value - y[j])
                if np.all(moved >= lower[rows] - slack) and np.all(moved <= upper[rows] + slack):
                    activity[rows] = moved
                    y[j] = value
                    break
            else:
                return None
        return y

    def integer_columns(self) -> np.ndarray:
        """Columns that are integer now (as of the last :meth:`update`)."""
        return np.flatnonzero(self._integer).astype(np.int32)

    def is_integer(self, column: int) -> bool:
        return bool(self._integer[column])

    def column_bounds(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of ``columns`` (as of the last :meth:`update`)."""
        return self._lower[columns].copy(), self._upper[columns].copy()

    # -- solutions --------------------------------------------------------
    def columns(self, component) -> dict:
        """Index → column of a variable component."""
        return self._component_columns.get(component.name, {})

    def values_of(self, component, keys, steps: int, x: np.ndarray) -> np.ndarray:
        """Solution values of a (key, step)-indexed variable as an array ``len(keys) × steps``."""
        columns = self.columns(component)
        index = np.array([[columns[(k, t)] for t in range(steps)] for k in keys], dtype=np.int64).reshape(len(keys), steps)
        return x[index]

    def expression_values(self, component, x: np.ndarray) -> dict:
        """Values of an ``Expression`` (or ``Objective``) component's entries at the solution ``x``.

        Parameters are taken as at the last :meth:`update` (those ``x`` was solved with).
        """
        name = component.name
        if name not in self._expressions:
            targets = _Affine.empty()
            compiled = {}
            for index, data in component.items():
                columns, coefficients, constant = self._linear(data.expr, targets)
                compiled[index] = (np.asarray(columns, dtype=np.int64), np.asarray(coefficients, dtype=np.int64),
                                   targets.add(*constant))
            const, matrix = targets.freeze(len(self.parameters))
            self._expressions[name] = (compiled, const, matrix)
        compiled, const, matrix = self._expressions[name]
        if len(self._p) < len(self.parameters):     # parameters first met in this expression: their values now
            added = self.parameters[len(self._p):]
            self._p = np.concatenate([self._p, [data.value for data in added]])
        values = const + matrix @ self._p[: matrix.shape[1]]
        return {index: float(values[constant] + values[coefficients] @ x[columns])
                for index, (columns, coefficients, constant) in compiled.items()}


def _minus(terms: dict[int, float], other: dict[int, float]) -> dict[int, float]:
    out = dict(terms)
    for slot, coef in other.items():
        out[slot] = out.get(slot, 0.0) - coef
    return out


def _mutable_leaves(expr, frozen):
    from pyomo.core.expr.visitor import identify_mutable_parameters

    for param in identify_mutable_parameters(expr):
        if id(param) not in frozen:
            yield param
