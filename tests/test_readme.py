"""The README's Python example runs as written (official weights stood in for by a random state dict)."""

import os
import re

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_models_in_python_example_runs(tmp_path, monkeypatch, capsys):
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## Models in Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    from hiera_video.models import create_model

    states = {}

    def fake_hub(url, **kwargs):  # no network: the official file's layout with random weights
        name = os.path.basename(url)[: -len(".pth")]
        if name not in states:
            states[name] = create_model(name).state_dict()
        return {"model_state": states[name]}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_hub)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    model, maps = namespace["model"], namespace["maps"]
    assert model.pretrained_cfg["hf_hub_id"] == "facebook/hiera_base_16x224.mae_k400_ft_k400"
    assert len(eval(printed[0])) == 5 and all(n in model.pretrained_cfg["label_names"] for n in eval(printed[0]))
    assert [tuple(m.shape) for m in maps] == [(1, 96, 8, 56, 56), (1, 192, 8, 28, 28), (1, 384, 8, 14, 14),
                                               (1, 768, 8, 7, 7)]
    assert namespace["tokens"].shape == (1, 392, 768) and namespace["pooled"].shape == (1, 768)
    assert namespace["mae"].num_classes == 174 and namespace["small"].num_classes == 5
    assert sorted(os.listdir(tmp_path / "my_model")) == ["config.json", "model.safetensors"]
