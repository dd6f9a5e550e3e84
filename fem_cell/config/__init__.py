"""Configuration: cell files + user configs → a validated, frozen, SI :class:`RunConfig`.

* :mod:`~fem_cell.config.loader`: reading the files, merging, the whole validation;
* :mod:`~fem_cell.config.sections`: filling any declared parameter dataclass;
* :mod:`~fem_cell.config.stack`, :mod:`~fem_cell.config.anneal`,
  :mod:`~fem_cell.config.chemistry`: the stack, the program, the chemistry tables;
* :mod:`~fem_cell.config.settings`: ``[solver]`` and ``[output]``;
* :mod:`~fem_cell.config.run`: :class:`RunConfig`;
* :mod:`~fem_cell.config.display`: what ``fem-cell config`` prints.

Parameters are declared once, where the code that uses them lives
(:mod:`fem_cell.physics.parameters`, :mod:`fem_cell.meshing.settings`,
:mod:`fem_cell.config.settings`); nothing here repeats a unit, bound or default.
"""

from fem_cell.config.loader import (
    DEFAULT_CELL,
    LI_MATERIAL,
    available_cells,
    build_config,
    deep_merge,
    load_config,
    read_toml,
)
from fem_cell.config.reader import Parameter, Setting
from fem_cell.config.run import RunConfig
from fem_cell.config.settings import OutputSettings, SolverSettings
from fem_cell.config.stack import Material

__all__ = ["DEFAULT_CELL", "LI_MATERIAL", "Material", "OutputSettings", "Parameter", "RunConfig",
           "Setting", "SolverSettings", "available_cells", "build_config", "deep_merge",
           "load_config", "read_toml"]
