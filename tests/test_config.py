"""Config presets, JSON round trips and `--set` overrides."""

import pytest

from gamegan.config import Config, ConfigError, apply_overrides, preset


@pytest.mark.parametrize("name", ["tiny", "small", "pacman", "pacman-maze", "paper"])
def test_presets_round_trip_through_json(tmp_path, name):
    config = preset(name)
    config.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == config


def test_presets_differ_where_they_should():
    tiny, small, paper = preset("tiny"), preset("small"), preset("paper")
    assert tiny.model.frame_size == 32 and not tiny.model.memory
    assert small.model.memory and small.model.n_components == 2
    assert paper.model.hidden_dim == 512 and paper.model.memory_size == 21 and paper.model.memory_dim == 512


def test_overrides_parse_types_and_dotted_keys():
    config = apply_overrides(preset("tiny"), ["loss.recon=0.02", "train.steps=7", "memory=true", "train.betas=[0.5, 0.99]"])
    assert config.loss.recon == 0.02
    assert config.train.steps == 7
    assert config.model.memory is True
    assert config.train.betas == (0.5, 0.99)


def test_bare_key_resolves_when_unique():
    assert apply_overrides(preset("tiny"), ["hidden_dim=32"]).model.hidden_dim == 32


@pytest.mark.parametrize("bad, message", [
    (["loss.nope=1"], "unknown config key"),
    (["nope=1"], "unknown config key"),
    (["train.steps=abc"], "expected an integer"),
    (["memory=maybe"], "expected true/false"),
    (["steps"], "key=value"),
])
def test_bad_overrides_are_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(preset("tiny"), bad)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match="tiny, small, pacman, pacman-maze, paper"):
        preset("huge")


def test_config_file_with_unknown_key_is_rejected(tmp_path):
    (tmp_path / "c.json").write_text('{"model": {"bogus": 1}}')
    with pytest.raises(ConfigError, match="bogus"):
        Config.load(tmp_path / "c.json")


def test_the_pacman_recipe_changes_its_values_at_its_steps_in_order():
    from gamegan.config import config_at, schedule_steps

    recipe = preset("pacman")
    assert schedule_steps(recipe) == [3005, 4412, 4730, 5746]
    before, after = config_at(recipe, 5745), config_at(recipe, 5746)
    assert (before.train.lr, before.train.ema_decay, before.loss.colour) == (2e-4, 0.0, 0.0)
    assert (after.train.lr, after.train.ema_decay, after.loss.colour) == (1e-4, 0.995, 0.2)
    assert config_at(recipe, 3004).train.seq_len == 12 and after.train.seq_len == 24 and after.loss.recon_l1
    assert after.train.schedule == recipe.train.schedule and recipe.train.lr == 2e-4  # the recipe is untouched


def test_a_config_from_before_teach_events_was_removed_loads_when_it_was_off_and_is_refused_when_on():
    old = Config.from_dict({"train": {"teach_events": False, "steps": 7}})
    assert old.train.steps == 7 and not hasattr(old.train, "teach_events")
    with pytest.raises(ConfigError, match="teach_events was removed"):
        Config.from_dict({"train": {"teach_events": True}})

