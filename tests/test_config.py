"""Configuration: the original INI file, environment overrides, defaults and the API key."""

from __future__ import annotations

import stat

import pytest

from dicebox.config import ConfigError, load_config

ORIGINAL_INI = """
[DATASET]
name = dice
image_width = 60
image_height = 50
categories = 6
dicebox_compliant = True

[TAXONOMY]
min_neurons = 1
max_neurons = 1597
min_layers = 1
max_layers = 21
layer_types = ["dropout", "dense"]
activation = ["softmax", "elu", "softplus", "softsign", "relu", "tanh", "sigmoid", "hard_sigmoid", "linear"]
optimizer = ["rmsprop", "adam", "sgd", "adagrad", "adadelta", "adamax", "nadam"]

[EVOLUTION]
epochs = 10000
generations = 100
population = 50

[TRAINING]
batch_size = 5000
train_batch_size = 5000
test_batch_size = 1000
load_best_weights_on_start = False

[DIRECTORY]
dataset_base_directory = datasets
logs_dir = logs
weights_dir = weights
tmp_dir = tmp
population_dir = population

[SERVER]
api_access_key = a-private-key-0123456789
api_version = 0.3.0
listening_host = 0.0.0.0
flask_debug = False
model_weights_filename = weights.best.hdf5

[SENSORY_SERVICE]
sensory_uri = http://
sensory_server = localhost
sensory_port = 5000
rabbitmq_uri = amqp://
rabbitmq_username = dicebox
rabbitmq_password = secret
rabbitmq_server = rabbit.local
rabbitmq_port = 5672
rabbitmq_vhost = %2F
rabbitmq_exchange = sensory.exchange
rabbitmq_batch_request_routing_key = task_queue
rabbitmq_batch_request_task_queue = sensory.batch.request.task.queue
shard_size = 5000

[GLOBAL]
noise = 0.0

[CLIENT]
classification_uri = http://
classification_server = localhost
classification_port = 5000
"""


def test_reads_the_original_file(tmp_path):
    path = tmp_path / "dicebox.config"
    path.write_text(ORIGINAL_INI)
    config = load_config(path, env={"DICEBOX_HOME": str(tmp_path / "home")})
    assert config.dataset_id == "dice_60x50"
    assert config.taxonomy.layer_types == ("dropout", "dense")
    assert "hard_sigmoid" in config.taxonomy.activation
    assert config.evolution.population == 50
    assert config.datasets_dir == tmp_path / "datasets", "relative folders are relative to the file"
    assert config.server.api_access_key == "a-private-key-0123456789"
    assert config.broker_url == "amqp://dicebox:secret@rabbit.local:5672/%2F"
    assert config.sensory_url == "http://localhost:5000"


def test_defaults_without_a_file_and_a_random_key_kept_in_the_data_folder(tmp_path):
    env = {"DICEBOX_HOME": str(tmp_path / "home")}
    first = load_config(env=env)
    assert first.dataset_id == "dice_60x50"
    assert first.broker_url is None
    assert first.server.api_version == "0.3.0"
    assert first.datasets_dir == tmp_path / "home" / "datasets"
    key = first.server.api_access_key
    assert len(key) >= 32
    assert load_config(env=env).server.api_access_key == key, "the key is kept"
    other = load_config(env={"DICEBOX_HOME": str(tmp_path / "elsewhere")}).server.api_access_key
    assert other != key, "never a fixed, known default"
    key_file = tmp_path / "home" / "api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_environment_overrides(tmp_path):
    env = {
        "DICEBOX_HOME": str(tmp_path),
        "DICEBOX_API_ACCESS_KEY": "from-env",
        "IMAGE_WIDTH": "28",
        "DICEBOX_IMAGE_HEIGHT": "28",
        "DICEBOX_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/%2F",
    }
    config = load_config(env=env)
    assert config.server.api_access_key == "from-env"
    assert config.dataset_id == "dice_28x28"
    assert config.broker_url.startswith("amqp://guest")
    assert not (tmp_path / "api_key").exists()


def test_data_dir_moves_every_folder(tmp_path):
    path = tmp_path / "dicebox.config"
    path.write_text(ORIGINAL_INI)
    config = load_config(path, env={}, data_dir=tmp_path / "d")
    assert config.datasets_dir == tmp_path / "d" / "datasets"
    assert config.population_dir == tmp_path / "d" / "population"


@pytest.mark.parametrize(
    "section, key, value, words",
    [
        ("TRAINING", "batch_size", "lots", "batch_size"),
        ("DATASET", "image_width", "0", "image_width"),
        ("GLOBAL", "noise", "2", "noise"),
        ("SENSORY_SERVICE", "rabbitmq_port", "99999", "rabbitmq_port"),
        ("EVOLUTION", "retain", "1.5", "retain"),
        ("DATASET", "channels", "2", "channels"),
        ("TAXONOMY", "learning_rates", "fast, 0.1", "learning_rates"),
        ("TAXONOMY", "batch_sizes", "32, 6.5", "batch_sizes"),
        ("TAXONOMY", "batch_norm", "maybe", "batch_norm"),
    ],
)
def test_bad_values_name_the_key(tmp_path, section, key, value, words):
    path = tmp_path / "dicebox.config"
    path.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={"DICEBOX_HOME": str(tmp_path)})
    message = str(error.value)
    assert words in message and section in message and "\n" not in message


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.config", env={})
    broken = tmp_path / "broken.config"
    broken.write_text("this is not = an ini [file\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(broken, env={})


# Inline comments, keys nothing reads, DICEBOX_CONFIG and the default file (issue 14, item 12) ---
def test_inline_comments_are_comments_but_only_after_whitespace(tmp_path):
    path = tmp_path / "dicebox.config"
    path.write_text(
        "[DATASET]\nname = dice ; my data set\ncategories = 0 # as many as there are\n"
        "[SERVER]\nlistening_host = 127.0.0.1 ; local only\n"
        "api_access_key = semi;colon#hash-0123456789\n"
    )
    config = load_config(path, env={"DICEBOX_HOME": str(tmp_path)})
    assert config.dataset.name == "dice"
    assert config.dataset.categories == 0
    assert config.server.listening_host == "127.0.0.1"
    assert config.server.api_access_key == "semi;colon#hash-0123456789", "no whitespace before: part of the value"


def test_the_2017_file_still_loads_and_says_once_what_it_ignores(tmp_path, caplog):
    path = tmp_path / "dicebox.config"
    path.write_text(ORIGINAL_INI)
    config = load_config(path, env={"DICEBOX_HOME": str(tmp_path / "home")})
    assert config.training.batch_size == 5000
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    for words in (
        "train_batch_size",
        "test_batch_size",
        "load_best_weights_on_start",
        "logs_dir",
        "dicebox_compliant",
        "flask_debug",
        "[CLIENT]",
        str(path),
    ):
        assert words in warnings[0]
    for gone in ("train_batch_size", "test_batch_size", "load_best_weights_on_start"):
        assert not hasattr(config.training, gone)
    assert not hasattr(config, "client") and not hasattr(config.directory, "logs_dir")


def test_an_unknown_key_or_section_is_a_warning_that_names_it(tmp_path, caplog):
    path = tmp_path / "dicebox.config"
    path.write_text("[SERVER]\nlistening_prot = 6000\n[SERVR]\nthreads = 2\n")
    config = load_config(path, env={"DICEBOX_HOME": str(tmp_path)})
    assert config.server.listening_port == 5000
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "[SERVER] listening_prot" in warnings and "[SERVR]" in warnings


def test_dicebox_config_names_the_file(tmp_path):
    path = tmp_path / "elsewhere.ini"
    path.write_text("[DATASET]\nname = fromenv\n")
    config = load_config(env={"DICEBOX_HOME": str(tmp_path / "home"), "DICEBOX_CONFIG": str(path)})
    assert config.dataset.name == "fromenv" and config.source == path
    with pytest.raises(ConfigError, match="not found.*DICEBOX_CONFIG"):
        load_config(env={"DICEBOX_HOME": str(tmp_path), "DICEBOX_CONFIG": str(tmp_path / "missing.ini")})


def test_the_data_folder_holds_the_default_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dicebox.config").write_text("[DATASET]\nname = athome\n")
    assert load_config(env={"DICEBOX_HOME": str(home)}).dataset.name == "athome"
    assert load_config(env={"DICEBOX_HOME": str(home)}).source == home / "dicebox.config"
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "dicebox.config").write_text("[DATASET]\nname = moved\n")
    assert load_config(env={"DICEBOX_HOME": str(home)}, data_dir=moved).dataset.name == "moved"


def test_precedence_flag_over_environment_over_file_over_defaults(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dicebox.config").write_text("[DATASET]\nname = default_file\nimage_width = 11\nimage_height = 12\n")
    named = tmp_path / "named.ini"
    named.write_text("[DATASET]\nname = named_file\nimage_width = 21\n")
    flagged = tmp_path / "flagged.ini"
    flagged.write_text("[DATASET]\nname = flagged_file\n")
    env = {"DICEBOX_HOME": str(home)}
    assert load_config(env=env).dataset_id == "default_file_11x12"
    env["DICEBOX_CONFIG"] = str(named)
    assert load_config(env=env).dataset_id == "named_file_21x50", "DICEBOX_CONFIG replaces the default file"
    assert load_config(flagged, env=env).dataset_id == "flagged_file_60x50", "--config replaces DICEBOX_CONFIG"
    env["DICEBOX_IMAGE_WIDTH"] = "31"
    assert load_config(env=env).dataset_id == "named_file_31x50", "the environment beats the file"


# The API key (issue 14, item 1) ------------------------------------------------------------------
@pytest.mark.parametrize("content", ["", "   \n", "\n\n"])
def test_an_empty_or_blank_key_file_is_refused_and_left_as_it_is(tmp_path, content):
    (tmp_path / "api_key").write_text(content)
    with pytest.raises(ConfigError) as error:
        load_config(env={"DICEBOX_HOME": str(tmp_path)})
    message = str(error.value)
    assert str(tmp_path / "api_key") in message and "empty" in message and "\n" not in message
    assert (tmp_path / "api_key").read_text() == content


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_key_in_the_file_or_environment_means_the_stored_key(tmp_path, blank):
    stored = load_config(env={"DICEBOX_HOME": str(tmp_path)}).server.api_access_key
    path = tmp_path / "dicebox.config"
    path.write_text(f"[SERVER]\napi_access_key = {blank}\n")
    env = {"DICEBOX_HOME": str(tmp_path), "DICEBOX_API_ACCESS_KEY": blank}
    assert load_config(path, env=env).server.api_access_key == stored


@pytest.mark.parametrize(
    "key",
    [
        "replace-with-a-long-random-string",
        "replace-with-another-long-random-string",
        "6e249b5f-b483-4e0d-b50b-81d95e3d9a59",
    ],
)
def test_a_published_key_is_refused(tmp_path, key):
    with pytest.raises(ConfigError, match="published"):
        load_config(env={"DICEBOX_HOME": str(tmp_path), "DICEBOX_API_ACCESS_KEY": key})
    path = tmp_path / "dicebox.config"
    path.write_text(f"[SERVER]\napi_access_key = {key}\n")
    with pytest.raises(ConfigError, match="published"):
        load_config(path, env={"DICEBOX_HOME": str(tmp_path)})
    (tmp_path / "api_key").write_text(key)
    with pytest.raises(ConfigError, match="published"):
        load_config(env={"DICEBOX_HOME": str(tmp_path)})


def test_a_short_key_is_a_loud_warning(tmp_path, caplog):
    config = load_config(env={"DICEBOX_HOME": str(tmp_path), "DICEBOX_API_ACCESS_KEY": "short-key"})
    assert config.server.api_access_key == "short-key"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("9 characters" in w and "16" in w and "DICEBOX_API_ACCESS_KEY" in w for w in warnings), warnings
    caplog.clear()
    load_config(env={"DICEBOX_HOME": str(tmp_path), "DICEBOX_API_ACCESS_KEY": "a-long-enough-key-0123"})
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_the_docker_env_template_leaves_the_secrets_empty_so_compose_refuses_to_start():
    from pathlib import Path

    template = Path(__file__).resolve().parent.parent / "packaging" / "docker" / "example.env"
    values = dict(line.split("=", 1) for line in template.read_text().splitlines() if line and not line.startswith("#"))
    assert values == {"DICEBOX_API_ACCESS_KEY": "", "RABBITMQ_PASSWORD": ""}
    compose = (template.parents[2] / "docker-compose.yml").read_text()
    assert "${DICEBOX_API_ACCESS_KEY:?" in compose and "${RABBITMQ_PASSWORD:?" in compose


def test_dicebox_config_shows_which_file_it_read_and_the_flag_wins(tmp_path):
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    (home / "dicebox.config").write_text("[DATASET]\nname = athome ; the default file\n")
    named = tmp_path / "named.ini"
    named.write_text("[DATASET]\nname = named\n")
    flagged = tmp_path / "flagged.ini"
    flagged.write_text("[DATASET]\nname = flagged\n")

    def shown(*args, **extra):
        env = {"DICEBOX_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **extra}
        proc = subprocess.run(
            [sys.executable, "-m", "dicebox", "config", *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        name = next(line for line in proc.stdout.splitlines() if line.startswith("name = "))
        source = next(line for line in proc.stdout.splitlines() if line.startswith("# configuration file: "))
        return name.split(" = ", 1)[1], source.split(": ", 1)[1]

    assert shown() == ("athome", str(home / "dicebox.config"))
    assert shown(DICEBOX_CONFIG=str(named)) == ("named", str(named))
    assert shown("--config", str(flagged), DICEBOX_CONFIG=str(named)) == ("flagged", str(flagged))
    assert shown("--config", str(flagged), DICEBOX_NAME="fromenv") == ("fromenv", str(flagged))


def test_taxonomy_gene_lists_read_as_numbers_and_empty_means_off(tmp_path):
    path = tmp_path / "dicebox.config"
    path.write_text("[TAXONOMY]\nlearning_rates = 1e-3, 0.01\nbatch_sizes = [16, 256]\naugmentations =\n"
                    "heads = global_max\nbatch_norm = false\n")
    taxonomy = load_config(path, env={"DICEBOX_HOME": str(tmp_path)}).taxonomy
    assert taxonomy.learning_rates == (0.001, 0.01) and taxonomy.batch_sizes == (16, 256)
    assert taxonomy.augmentations == () and taxonomy.heads == ("global_max",) and taxonomy.batch_norm is False
