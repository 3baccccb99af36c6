"""Configuration: the original ``dicebox.config`` INI file, environment overrides and defaults.

Precedence, lowest first: built-in defaults, the INI file given with ``--config``, environment
variables (``DICEBOX_<KEY>`` or, as the original read them, ``<KEY>`` in capitals), then
command-line flags. With no file at all everything works: data lives in the per-user data folder
(:func:`dicebox.paths.data_home`) and the API key is generated there on first use.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import os
import secrets
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dicebox.durable import create_exclusive
from dicebox.paths import data_home


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key."""


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _fraction(value: float) -> str | None:
    return None if 0 <= value <= 1 else "must be between 0 and 1"


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be a TCP port (0..65535)"


def _channels(value: int) -> str | None:
    return None if value in (1, 3) else "must be 1 (grayscale) or 3 (colour)"


def _check(validator) -> dict:
    return {"check": validator}


@dataclass(frozen=True)
class DatasetConfig:
    name: str = "dice"
    image_width: int = field(default=60, metadata=_check(_positive))
    image_height: int = field(default=50, metadata=_check(_positive))
    # The original's number of categories; 0 means "as many as the data set has".
    categories: int = field(default=0, metadata=_check(_non_negative))
    dicebox_compliant: bool = True
    channels: int = field(default=1, metadata=_check(_channels))


@dataclass(frozen=True)
class TaxonomyConfig:
    min_neurons: int = field(default=8, metadata=_check(_positive))
    max_neurons: int = field(default=256, metadata=_check(_positive))
    min_layers: int = field(default=1, metadata=_check(_positive))
    max_layers: int = field(default=4, metadata=_check(_positive))
    layer_types: tuple[str, ...] = ("dropout", "dense", "conv2d")
    activation: tuple[str, ...] = ("relu", "elu", "tanh", "sigmoid", "selu")
    optimizer: tuple[str, ...] = ("adam", "adamax", "nadam", "rmsprop", "sgd")


@dataclass(frozen=True)
class EvolutionConfig:
    epochs: int = field(default=3, metadata=_check(_positive))
    generations: int = field(default=4, metadata=_check(_positive))
    population: int = field(default=8, metadata=_check(_positive))
    retain: float = field(default=0.4, metadata=_check(_fraction))
    random_select: float = field(default=0.1, metadata=_check(_fraction))
    mutate_chance: float = field(default=0.2, metadata=_check(_fraction))


@dataclass(frozen=True)
class TrainingConfig:
    batch_size: int = field(default=64, metadata=_check(_positive))
    train_batch_size: int = field(default=1000, metadata=_check(_positive))
    test_batch_size: int = field(default=100, metadata=_check(_positive))
    load_best_weights_on_start: bool = False
    epochs: int = field(default=20, metadata=_check(_positive))
    validation_split: float = field(default=0.2, metadata=_check(_fraction))
    seed: int = 0


@dataclass(frozen=True)
class DirectoryConfig:
    """Folders; empty means "inside the data folder". Relative paths are relative to the file."""

    dataset_base_directory: str = ""
    logs_dir: str = ""
    weights_dir: str = ""
    tmp_dir: str = ""
    population_dir: str = ""


@dataclass(frozen=True)
class ServerConfig:
    api_access_key: str = ""
    api_version: str = "0.3.0"
    listening_host: str = "127.0.0.1"
    listening_port: int = field(default=5000, metadata=_check(_port))
    flask_debug: bool = False
    model_weights_filename: str = ""
    threads: int = field(default=8, metadata=_check(_positive))
    # Browser origins allowed by CORS; '*' in a port position matches any port.
    cors_origins: tuple[str, ...] = ("http://localhost:*", "http://127.0.0.1:*")
    max_request_mb: float = field(default=64.0, metadata=_check(_positive))
    max_image_pixels: int = field(default=16_000_000, metadata=_check(_positive))
    max_inline_batch: int = field(default=20_000, metadata=_check(_positive))


@dataclass(frozen=True)
class SensoryServiceConfig:
    sensory_uri: str = "http://"
    sensory_server: str = "127.0.0.1"
    sensory_port: int = field(default=5000, metadata=_check(_port))
    rabbitmq_uri: str = "amqp://"
    rabbitmq_username: str = "guest"
    rabbitmq_password: str = "guest"
    # Empty: batch orders are filled inside the service (no broker needed).
    rabbitmq_server: str = ""
    rabbitmq_port: int = field(default=5672, metadata=_check(_port))
    rabbitmq_vhost: str = "%2F"
    rabbitmq_exchange: str = "sensory.exchange"
    rabbitmq_batch_request_routing_key: str = "task_queue"
    rabbitmq_batch_request_task_queue: str = "sensory.batch.request.task.queue"
    shard_size: int = field(default=5000, metadata=_check(_positive))
    # A full broker URL (amqp://user:pass@host:port/vhost); wins over the rabbitmq_* keys.
    broker_url: str = ""
    order_expiry_seconds: float = field(default=600.0, metadata=_check(_positive))


@dataclass(frozen=True)
class GlobalConfig:
    noise: float = field(default=0.0, metadata=_check(_fraction))


@dataclass(frozen=True)
class ClientConfig:
    classification_uri: str = "http://"
    classification_server: str = "127.0.0.1"
    classification_port: int = field(default=5000, metadata=_check(_port))


SECTIONS: dict[str, tuple[str, type]] = {
    "DATASET": ("dataset", DatasetConfig),
    "TAXONOMY": ("taxonomy", TaxonomyConfig),
    "EVOLUTION": ("evolution", EvolutionConfig),
    "TRAINING": ("training", TrainingConfig),
    "DIRECTORY": ("directory", DirectoryConfig),
    "SERVER": ("server", ServerConfig),
    "SENSORY_SERVICE": ("sensory_service", SensoryServiceConfig),
    "GLOBAL": ("global_", GlobalConfig),
    "CLIENT": ("client", ClientConfig),
}


@dataclass(frozen=True)
class Config:
    """All settings, one frozen dataclass per INI section, plus where they came from."""

    dataset: DatasetConfig = DatasetConfig()
    taxonomy: TaxonomyConfig = TaxonomyConfig()
    evolution: EvolutionConfig = EvolutionConfig()
    training: TrainingConfig = TrainingConfig()
    directory: DirectoryConfig = DirectoryConfig()
    server: ServerConfig = ServerConfig()
    sensory_service: SensoryServiceConfig = SensoryServiceConfig()
    global_: GlobalConfig = GlobalConfig()
    client: ClientConfig = ClientConfig()
    home: Path = field(default_factory=data_home)
    source: Path | None = None

    # Resolved folders -------------------------------------------------------------------------
    def _dir(self, value: str, default: str) -> Path:
        if not value:
            return self.home / default
        path = Path(value).expanduser()
        if not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        return path

    @property
    def datasets_dir(self) -> Path:
        return self._dir(self.directory.dataset_base_directory, "datasets")

    @property
    def logs_dir(self) -> Path:
        return self._dir(self.directory.logs_dir, "logs")

    @property
    def weights_dir(self) -> Path:
        return self._dir(self.directory.weights_dir, "weights")

    @property
    def tmp_dir(self) -> Path:
        return self._dir(self.directory.tmp_dir, "tmp")

    @property
    def population_dir(self) -> Path:
        return self._dir(self.directory.population_dir, "population")

    @property
    def dataset_id(self) -> str:
        """The data set folder name of the configured data set: ``<name>_<width>x<height>``."""
        d = self.dataset
        return f"{d.name}_{d.image_width}x{d.image_height}"

    @property
    def broker_url(self) -> str | None:
        """The RabbitMQ URL to use for batch orders, or None for the embedded backend."""
        s = self.sensory_service
        if s.broker_url:
            return s.broker_url
        if not s.rabbitmq_server:
            return None
        return (
            f"{s.rabbitmq_uri}{s.rabbitmq_username}:{s.rabbitmq_password}"
            f"@{s.rabbitmq_server}:{s.rabbitmq_port}/{s.rabbitmq_vhost}"
        )

    @property
    def sensory_url(self) -> str:
        s = self.sensory_service
        return f"{s.sensory_uri}{s.sensory_server}:{s.sensory_port}"

    def replace(self, section: str, **values: object) -> Config:
        """A copy with some keys of one section (attribute name, e.g. ``"server"``) changed."""
        current = getattr(self, section)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **values)})


# Parsing ----------------------------------------------------------------------------------------
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_value(raw: str, kind: object) -> object:
    text = raw.strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("expected a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        return value
    if typing.get_origin(kind) is tuple:
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("expected a list such as [a, b] or a, b") from None
            if not isinstance(items, list):
                raise ValueError("expected a list")
        else:
            items = [part for part in text.split(",")]
        return tuple(str(item).strip().strip("'\"") for item in items if str(item).strip())
    return text


# Keys of the original dicebox.config; only these may also be set by a bare ``<KEY>`` variable,
# so new keys never pick up unrelated variables such as SEED or THREADS.
ORIGINAL_KEYS = frozenset(
    """name image_width image_height categories dicebox_compliant min_neurons max_neurons
    min_layers max_layers layer_types activation optimizer epochs generations population batch_size
    train_batch_size test_batch_size load_best_weights_on_start dataset_base_directory logs_dir
    weights_dir tmp_dir population_dir api_access_key api_version listening_host flask_debug
    model_weights_filename sensory_uri sensory_server sensory_port rabbitmq_uri rabbitmq_username
    rabbitmq_password rabbitmq_server rabbitmq_port rabbitmq_vhost rabbitmq_exchange
    rabbitmq_batch_request_routing_key rabbitmq_batch_request_task_queue shard_size noise
    classification_uri classification_server classification_port""".split()
)


def _section_values(
    cls: type, section: str, ini: configparser.ConfigParser, env: Mapping[str, str]
) -> object:
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        raw, origin = None, None
        if ini.has_option(section, f.name):
            raw, origin = ini.get(section, f.name, raw=True), "config file"
        names = [f"DICEBOX_{f.name.upper()}"]
        if f.name in ORIGINAL_KEYS:
            names.insert(0, f.name.upper())
        for var in names:
            if var in env:
                raw, origin = env[var], f"environment variable {var}"
        if raw is None:
            continue
        try:
            value = _parse_value(raw, hints[f.name])
        except ValueError as exc:
            raise ConfigError(f"[{section}] {f.name} = {raw!r} ({origin}): {exc}") from None
        problem = f.metadata.get("check", lambda _v: None)(value)
        if problem:
            raise ConfigError(f"[{section}] {f.name} = {raw!r} ({origin}): {problem}")
        values[f.name] = value
    return cls(**values)


def load_config(
    path: str | os.PathLike | None = None,
    *,
    env: Mapping[str, str] | None = None,
    data_dir: str | os.PathLike | None = None,
) -> Config:
    """Read the configuration: defaults, then the INI file (if any), then the environment.

    ``data_dir`` (the ``--data-dir`` flag) moves the data folder and every folder inside it. The
    API key is resolved here: configured, from the environment, or kept in the data folder.
    """
    env = os.environ if env is None else env
    ini = configparser.ConfigParser(interpolation=None)
    source = None
    if path is not None:
        source = Path(path).expanduser().resolve()
        try:
            with open(source, encoding="utf-8") as fh:
                ini.read_file(fh)
        except FileNotFoundError:
            raise ConfigError(f"configuration file not found: {source}") from None
        except (configparser.Error, UnicodeDecodeError) as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise ConfigError(f"cannot read configuration file {source}: {first_line}") from None
    sections = {
        attr: _section_values(cls, name, ini, env) for name, (attr, cls) in SECTIONS.items()
    }
    home = Path(data_dir).expanduser().resolve() if data_dir else data_home(env)
    config = Config(**sections, home=home, source=source)
    if data_dir:
        config = config.replace(
            "directory",
            **{f.name: "" for f in dataclasses.fields(DirectoryConfig)},
        )
    if not config.server.api_access_key:
        config = config.replace("server", api_access_key=stored_api_key(config.home))
    return config


API_KEY_FILE = "api_key"


def stored_api_key(home: Path) -> str:
    """The API key kept in the data folder, generated randomly the first time it is needed."""
    key_file = Path(home) / API_KEY_FILE
    try:
        key = key_file.read_text(encoding="utf-8").strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    candidate = secrets.token_urlsafe(32)
    if create_exclusive(key_file, candidate.encode("ascii")):
        return candidate
    return key_file.read_text(encoding="utf-8").strip()


def write_config(config: Config, target) -> None:
    """Write ``config`` in the original INI format to a path or an open text stream."""
    ini = configparser.ConfigParser(interpolation=None)
    for name, (attr, _cls) in SECTIONS.items():
        section = getattr(config, attr)
        ini[name] = {}
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if isinstance(value, tuple):
                value = ", ".join(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            ini[name][f.name] = str(value)
    if hasattr(target, "write"):
        ini.write(target)
        return
    with open(target, "w", encoding="utf-8") as fh:
        ini.write(fh)
