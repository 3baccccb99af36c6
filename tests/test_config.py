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
api_access_key = 6e249b5f-b483-4e0d-b50b-81d95e3d9a59
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
    assert config.server.api_access_key == "6e249b5f-b483-4e0d-b50b-81d95e3d9a59"
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
    env = {"DICEBOX_HOME": str(tmp_path), "DICEBOX_API_ACCESS_KEY": "from-env", "IMAGE_WIDTH": "28",
           "DICEBOX_IMAGE_HEIGHT": "28", "DICEBOX_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/%2F"}
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


@pytest.mark.parametrize("section, key, value, words", [
    ("TRAINING", "batch_size", "lots", "batch_size"),
    ("DATASET", "image_width", "0", "image_width"),
    ("GLOBAL", "noise", "2", "noise"),
    ("SENSORY_SERVICE", "rabbitmq_port", "99999", "rabbitmq_port"),
    ("TRAINING", "load_best_weights_on_start", "maybe", "load_best_weights_on_start"),
    ("DATASET", "channels", "2", "channels"),
])
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
