"""Configuration: the original ``dicebox.config`` INI file, environment overrides and defaults.

Precedence, lowest first: built-in defaults, the INI file, environment variables (``DICEBOX_<KEY>``
or, as the original read them, ``<KEY>`` in capitals), then command-line flags. The INI file is the
one given with ``--config``, else ``$DICEBOX_CONFIG``, else ``dicebox.config`` in the data folder
if there is one. With no file at all everything works: data lives in the per-user data folder
(:func:`dicebox.plumbing.paths.data_home`) and the API key is generated there on first use.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import logging
import os
import secrets
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dicebox.plumbing.durable import create_exclusive
from dicebox.plumbing.paths import data_home

log = logging.getLogger("dicebox.config")


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
    channels: int = field(default=1, metadata=_check(_channels))


@dataclass(frozen=True)
class TaxonomyConfig:
    min_neurons: int = field(default=8, metadata=_check(_positive))
    max_neurons: int = field(default=256, metadata=_check(_positive))
    min_layers: int = field(default=1, metadata=_check(_positive))
    max_layers: int = field(default=6, metadata=_check(_positive))
    layer_types: tuple[str, ...] = ("dropout", "dense", "conv2d", "maxpool2d")
    activation: tuple[str, ...] = ("relu", "elu", "tanh", "sigmoid", "selu")
    optimizer: tuple[str, ...] = ("adam", "adamax", "nadam", "rmsprop", "sgd")
    # Genes the 2017 file had no key for; an empty list leaves a gene out of the search.
    batch_norm: bool = True
    heads: tuple[str, ...] = ("flatten", "global_average")
    learning_rates: tuple[float, ...] = (0.0001, 0.0003, 0.001, 0.003, 0.01)
    batch_sizes: tuple[int, ...] = (32, 64, 128)
    augmentations: tuple[str, ...] = ("translation", "rotation", "zoom", "contrast")
    augmentation_levels: tuple[float, ...] = (0.05, 0.1, 0.2)


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
    epochs: int = field(default=20, metadata=_check(_positive))
    validation_split: float = field(default=0.2, metadata=_check(_fraction))
    seed: int = 0


@dataclass(frozen=True)
class DirectoryConfig:
    """Folders; empty means "inside the data folder". Relative paths are relative to the file."""

    dataset_base_directory: str = ""
    weights_dir: str = ""
    tmp_dir: str = ""
    population_dir: str = ""
    # Empty: each data set's index is in its folder (one machine). A folder on this machine's own
    # disk: the index is kept there, for a data folder shared by several machines (NFS, EFS).
    index_dir: str = ""
    index_refresh_seconds: float = field(default=0.1, metadata=_check(_positive))


@dataclass(frozen=True)
class ServerConfig:
    api_access_key: str = ""
    api_version: str = "0.3.0"
    listening_host: str = "127.0.0.1"
    listening_port: int = field(default=5000, metadata=_check(_port))
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


SECTIONS: dict[str, tuple[str, type]] = {
    "DATASET": ("dataset", DatasetConfig),
    "TAXONOMY": ("taxonomy", TaxonomyConfig),
    "EVOLUTION": ("evolution", EvolutionConfig),
    "TRAINING": ("training", TrainingConfig),
    "DIRECTORY": ("directory", DirectoryConfig),
    "SERVER": ("server", ServerConfig),
    "SENSORY_SERVICE": ("sensory_service", SensoryServiceConfig),
    "GLOBAL": ("global_", GlobalConfig),
}

# Settings of the 2017 file that nothing reads any more. An old file keeps loading; one warning
# names them. ``None``: the whole section (the classifier is served by the sensory service now).
IGNORED: dict[str, tuple[str, ...] | None] = {
    "DATASET": ("dicebox_compliant",),
    "TAXONOMY": ("neurons", "layers"),
    "TRAINING": ("train_batch_size", "test_batch_size", "load_best_weights_on_start"),
    "DIRECTORY": ("logs_dir",),
    "SERVER": ("flask_debug",),
    "LONESTAR": None,
    "CLIENT": None,
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
    def index_dir(self) -> Path | None:
        """Where data set indexes are kept on this machine; None: in each data set's folder.

        Raises :class:`ConfigError` when it lies inside the (shared) data sets folder.
        """
        if not self.directory.index_dir:
            return None
        index_dir = self._dir(self.directory.index_dir, "")
        if index_dir.resolve().is_relative_to(self.datasets_dir.resolve()):
            raise ConfigError(
                f"[DIRECTORY] index_dir {index_dir} is inside the data sets folder {self.datasets_dir}: "
                "give a folder on this machine's own disk, outside the shared folder"
            )
        return index_dir

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
        from dicebox.store.names import dataset_id

        d = self.dataset
        return dataset_id(d.name, d.image_width, d.image_height)

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
        words = tuple(str(item).strip().strip("'\"") for item in items if str(item).strip())
        (item_kind, *_rest) = typing.get_args(kind) or (str,)
        if item_kind in (int, float):
            try:
                return tuple(_parse_value(word, item_kind) for word in words)
            except ValueError:
                raise ValueError(f"expected a list of {'whole numbers' if item_kind is int else 'numbers'}") from None
        return words
    return text


# Keys of the original dicebox.config; only these may also be set by a bare ``<KEY>`` variable,
# so new keys never pick up unrelated variables such as SEED or THREADS.
ORIGINAL_KEYS = frozenset(
    """name image_width image_height categories min_neurons max_neurons min_layers max_layers
    layer_types activation optimizer epochs generations population batch_size
    dataset_base_directory weights_dir tmp_dir population_dir api_access_key api_version
    listening_host model_weights_filename sensory_uri sensory_server sensory_port rabbitmq_uri
    rabbitmq_username rabbitmq_password rabbitmq_server rabbitmq_port rabbitmq_vhost
    rabbitmq_exchange rabbitmq_batch_request_routing_key rabbitmq_batch_request_task_queue
    shard_size noise""".split()
)


def _raw_value(
    section: str, key: str, ini: configparser.ConfigParser, env: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """The text set for one key and where it came from; the environment wins over the file."""
    raw, origin = None, None
    if ini.has_option(section, key):
        raw, origin = ini.get(section, key, raw=True), "config file"
    names = [f"DICEBOX_{key.upper()}"]
    if key in ORIGINAL_KEYS:
        names.insert(0, key.upper())
    for var in names:
        if var in env:
            raw, origin = env[var], f"environment variable {var}"
    return raw, origin


def _section_values(cls: type, section: str, ini: configparser.ConfigParser, env: Mapping[str, str]) -> object:
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        raw, origin = _raw_value(section, f.name, ini, env)
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


def _warn_about_unread_settings(ini: configparser.ConfigParser, source: Path) -> None:
    """One warning for the 2017 settings nothing reads, one for names that are no setting at all."""
    ignored, unknown = [], []
    for section in ini.sections():
        if section not in SECTIONS:
            (ignored if IGNORED.get(section, ()) is None else unknown).append(f"[{section}]")
            continue
        keys = [key for key in ini.options(section) if key not in ini.defaults()]
        known = {f.name for f in dataclasses.fields(SECTIONS[section][1])}
        old = [key for key in keys if key in IGNORED.get(section, ())]
        typos = [key for key in keys if key not in known and key not in old]
        if old:
            ignored.append(f"[{section}] {', '.join(old)}")
        if typos:
            unknown.append(f"[{section}] {', '.join(typos)}")
    if ignored:
        log.warning(
            "%s: settings of the 2017 dicebox that nothing reads any more, ignored: %s", source, "; ".join(ignored)
        )
    if unknown:
        log.warning("%s: not dicebox settings (a typo?), ignored: %s", source, "; ".join(unknown))


def _read_ini(source: Path, named_by: str) -> configparser.ConfigParser:
    # configparser's own rule: ';' or '#' starts a comment only after whitespace, so
    # "amqp://u:p;x@host" stays whole while "name = dice ; my data set" is "dice".
    ini = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    try:
        with open(source, encoding="utf-8") as fh:
            ini.read_file(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {source}{named_by}") from None
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise ConfigError(f"cannot read configuration file {source}{named_by}: {first_line}") from None
    _warn_about_unread_settings(ini, source)
    return ini


CONFIG_FILE = "dicebox.config"


def config_file(path: str | os.PathLike | None, env: Mapping[str, str], home: Path) -> tuple[Path | None, str]:
    """Which INI file to read: ``path`` (``--config``), ``$DICEBOX_CONFIG``, or the data folder's.

    Returns the file (None: built-in defaults only) and how it was named, for messages.
    """
    if path is not None:
        return Path(path).expanduser().resolve(), ""
    if env.get("DICEBOX_CONFIG"):
        return Path(env["DICEBOX_CONFIG"]).expanduser().resolve(), " (from DICEBOX_CONFIG)"
    default = home / CONFIG_FILE
    return (default.resolve(), "") if default.exists() else (None, "")


def load_config(
    path: str | os.PathLike | None = None,
    *,
    env: Mapping[str, str] | None = None,
    data_dir: str | os.PathLike | None = None,
) -> Config:
    """Read the configuration: defaults, then the INI file (if any), then the environment.

    ``path`` is the ``--config`` flag; without it :func:`config_file` picks the file. ``data_dir``
    (the ``--data-dir`` flag) moves the data folder and every folder inside it. The API key is
    resolved here: configured, from the environment, or kept in the data folder.
    """
    env = os.environ if env is None else env
    home = Path(data_dir).expanduser().resolve() if data_dir else data_home(env)
    source, named_by = config_file(path, env, home)
    ini = _read_ini(source, named_by) if source else configparser.ConfigParser(interpolation=None)
    sections = {attr: _section_values(cls, name, ini, env) for name, (attr, cls) in SECTIONS.items()}
    config = Config(**sections, home=home, source=source)
    if data_dir:
        # Every folder inside the data folder moves with it; the local index folder is not one.
        config = config.replace(
            "directory",
            **{f.name: "" for f in dataclasses.fields(DirectoryConfig) if not f.name.startswith("index_")},
        )
    if config.server.api_access_key:
        _, origin = _raw_value("SERVER", "api_access_key", ini, env)
        origin = f"the {origin} {source}" if origin == "config file" else origin
        _check_api_key(config.server.api_access_key, origin)
    else:
        key_file = config.home / API_KEY_FILE
        key = _check_api_key(stored_api_key(config.home), f"the API key file {key_file}")
        config = config.replace("server", api_access_key=key)
    return config


API_KEY_FILE = "api_key"
MIN_KEY_LENGTH = 16
# Keys printed in public files: a service guarded by one of them is open to anyone who read them.
PUBLISHED_KEYS = {
    "replace-with-a-long-random-string": "the placeholder of packaging/docker/example.env",
    "replace-with-another-long-random-string": "a placeholder of packaging/docker/example.env",
    "6e249b5f-b483-4e0d-b50b-81d95e3d9a59": "the key of the original dicebox's sample configuration",
}
_NEW_KEY_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def _check_api_key(key: str, origin: str) -> str:
    """Refuse a key anyone can know; warn loudly about one short enough to guess."""
    if key in PUBLISHED_KEYS:
        raise ConfigError(
            f"the API key from {origin} is {PUBLISHED_KEYS[key]}, published for anyone to read: "
            f"set a long random key (for example: {_NEW_KEY_HINT})"
        )
    if len(key) < MIN_KEY_LENGTH:
        log.warning(
            "INSECURE: the API key from %s is only %d characters long; anyone who can reach the "
            "service may guess it. Use %d or more (a generated key has 43): %s",
            origin,
            len(key),
            MIN_KEY_LENGTH,
            _NEW_KEY_HINT,
        )
    return key


def _read_key_file(key_file: Path) -> str | None:
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the API key file {key_file}: {getattr(exc, 'strerror', None) or exc}") from None


def stored_api_key(home: Path) -> str:
    """The API key kept in the data folder, generated randomly the first time it is needed.

    A file that exists but holds no key is refused, never taken as "no key needed": it was
    emptied by hand or by a failed write, and whoever did it should choose what goes there.
    """
    key_file = Path(home) / API_KEY_FILE
    key = _read_key_file(key_file)
    if key is None:
        candidate = secrets.token_urlsafe(32)
        try:
            created = create_exclusive(key_file, candidate.encode("ascii"))
        except OSError as exc:
            raise ConfigError(f"cannot create the API key file {key_file}: {exc.strerror or exc}") from None
        if created:
            return candidate
        key = _read_key_file(key_file)
    # Where the file system has no hard links, another process creates the file empty and then
    # writes it: give that write a moment before calling the file empty.
    for _ in range(5):
        if key:
            break
        time.sleep(0.02)
        key = _read_key_file(key_file)
    if not key:
        raise ConfigError(
            f"the API key file {key_file} is empty: write a key of {MIN_KEY_LENGTH} or more characters "
            "into it, or delete it and dicebox generates one"
        )
    return key


def write_config(config: Config, target) -> None:
    """Write ``config`` in the original INI format to a path or an open text stream."""
    ini = configparser.ConfigParser(interpolation=None)
    for name, (attr, _cls) in SECTIONS.items():
        section = getattr(config, attr)
        ini[name] = {}
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if isinstance(value, tuple):
                value = ", ".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            ini[name][f.name] = str(value)
    if hasattr(target, "write"):
        ini.write(target)
        return
    with open(target, "w", encoding="utf-8") as fh:
        ini.write(fh)
