import pytest
import torch
from torch import nn

from snnbench import create_model
from snnbench.attacks import (APGD, APGDT, FGSM, MIFGSM, PGD, RFGSM, SAPGD, AdamPGD, GradientSpec, Square,
                              apgd_checkpoints)
from snnbench.attacks.apgd import apgd_run, dlr_loss, targeted_dlr_loss
from snnbench.attacks.core import ActiveSamples, FoolingTracker
from snnbench.attacks.core import AttackContext, cross_entropy
from snnbench.attacks.sapgd import StableAdaptiveDirection, step_sizes
from snnbench.gradient_modes import gradient_mode

EPS = 0.1


def tiny_model(**neuron):
    neuron.setdefault("backend", "eager")
    model = create_model("convnet", T=2, image_size=8, channels=(8, 16), neuron=neuron, seed=0)
    # Calibrate batch norm on random images so that the untrained neurons fire about half the time.
    calibration = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # cumulative average
        model.train()(calibration)
    return model.eval()


@pytest.fixture(scope="module")
def fixture():
    torch.manual_seed(0)
    model = tiny_model()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)  # labels the model gets right
    return model, x, y


ATTACKS = {
    "fgsm": lambda seed: FGSM(eps=EPS, seed=seed),
    "rfgsm": lambda seed: RFGSM(eps=EPS, seed=seed),
    "mifgsm": lambda seed: MIFGSM(eps=EPS, steps=5, seed=seed),
    "adam-pgd": lambda seed: AdamPGD(eps=EPS, steps=5, seed=seed),
    "square": lambda seed: Square(eps=EPS, queries=50, seed=seed),
    "pgd": lambda seed: PGD(eps=EPS, steps=5, restarts=2, seed=seed),
    "pgd-bptr": lambda seed: PGD(eps=EPS, steps=5, seed=seed, gradient=GradientSpec("bptr")),
    "pgd-rga": lambda seed: PGD(eps=EPS, steps=5, seed=seed, gradient=GradientSpec("rga")),
    "pgd-hart": lambda seed: PGD(eps=EPS, steps=5, seed=seed, gradient=GradientSpec("hart", {"alpha": 4.0})),
    "pgd-pdsg": lambda seed: PGD(eps=EPS, steps=5, seed=seed, gradient=GradientSpec("pdsg")),
    "apgd-ce": lambda seed: APGD(eps=EPS, steps=10, seed=seed),
    "apgd-dlr-restarts": lambda seed: APGD(eps=EPS, steps=5, loss_name="dlr", restarts=2, seed=seed),
    "apgd-t": lambda seed: APGDT(eps=EPS, steps=5, targets=3, seed=seed),
    "sapgd-assg": lambda seed: SAPGD(eps=EPS, steps=10, seed=seed),
    "sapgd-assg-restarts": lambda seed: SAPGD(eps=EPS, steps=5, seed=seed, A_values=(0.6, 0.87)),
    "sapgd-surrogate": lambda seed: SAPGD(eps=EPS, steps=10, seed=seed, gradient=GradientSpec("surrogate")),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_contract_ball_box_determinism(fixture, name):
    model, x, y = fixture
    model.train()  # attacks must switch to eval() and restore the mode
    x_adv = ATTACKS[name](3)(model, x, y)
    assert model.training
    model.eval()
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max() <= EPS + 1e-7
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.equal(ATTACKS[name](3)(model, x, y), x_adv)
    with torch.no_grad():
        fooled = model(x_adv).argmax(1) != y
    untouched = (x_adv == x).flatten(1).all(1)
    assert torch.equal(fooled | untouched, torch.ones_like(fooled))  # a fooling point, else the clean input
    assert all(layer.backward_path is None for layer in model.spiking_layers())


def test_gradient_attacks_fool_an_undefended_model(fixture):
    model, x, y = fixture
    with torch.no_grad():
        for attack in (PGD(eps=EPS, steps=10), SAPGD(eps=EPS, steps=20), Square(eps=EPS, queries=300)):
            assert (model(attack(model, x, y)).argmax(1) != y).float().mean() >= 0.5


def test_bad_input_is_named(fixture):
    model, x, y = fixture
    with pytest.raises(ValueError, match=r"PGD: images must lie in \[0, 1\]"):
        PGD(eps=EPS)(model, x * 2, y)
    with pytest.raises(ValueError, match="SAPGD: expected images"):
        SAPGD(eps=EPS)(model, x[0], y)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        PGD(eps=-1)


def test_checkpoint_schedule():
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(50) == [11, 21, 30, 38, 45]
    sizes = step_sizes(0.1, 100)
    expected = [0.1 * 0.5 ** sum(1 for c in [22, 41, 57, 70, 80, 87, 93, 99] if c < i) for i in range(1, 101)]
    assert sizes == pytest.approx(expected)
    assert sizes[21] == 0.1 and sizes[22] == 0.05 and sizes[-1] == pytest.approx(0.1 / 2 ** 8)


def test_sapgd_first_step_is_an_eps_fgsm_step():
    g = torch.randn(4, 1, 8, 8)
    g[0, 0, 0, 0] = 0.0
    step = StableAdaptiveDirection().step(g, 0.1)
    torch.testing.assert_close(step, 0.1 * g.sign())


def test_sapgd_normalises_by_the_mean_not_the_sum():
    direction = StableAdaptiveDirection()
    g = torch.randn(2, 3, 16, 16)
    direction.step(g, 1.0)
    assert direction.m.abs().flatten(1).mean(1) == pytest.approx(torch.ones(2))
    second = direction.step(g * 1e-6, 0.1)  # scale-free: a tiny gradient gives the same step
    assert second.abs().max() > 0.05


def test_pgd_finds_the_analytic_worst_case_of_a_linear_model():
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    x = torch.rand(8, 1, 4, 4) * 0.6 + 0.2  # inside the box by more than eps
    with torch.no_grad():
        y = linear(x).argmax(1)
        w = linear[1].weight
        direction = (w[1 - y] - w[y]).view(-1, 1, 4, 4)  # raises the other logit, lowers the true one
        worst = x + EPS * direction.sign()
    margin_worst = linear(worst).gather(1, y[:, None]) - linear(worst).gather(1, (1 - y)[:, None])
    attack = PGD(eps=EPS, steps=20, step_size=EPS / 4, random_start=False, gradient=GradientSpec("none"))
    ctx_free = attack(linear, x, y)
    fooled = margin_worst.view(-1) < 0
    with torch.no_grad():
        adv_pred = linear(ctx_free).argmax(1)
    assert torch.equal(adv_pred != y, fooled)  # fools exactly the samples the analytic worst case fools
    # and, run without early stopping, reaches the analytic point itself
    x_cur = x.clone()
    with gradient_mode(linear, "none") as mode:
        ctx = AttackContext(linear, cross_entropy, 1, mode)
        for _ in range(20):
            _, _, grad = ctx.loss_and_grad(x_cur, y)
            x_cur = torch.min(torch.max(x_cur + EPS / 4 * grad.sign(), x - EPS), x + EPS).clamp(0, 1)
    torch.testing.assert_close(x_cur, worst)


def test_eot_reduces_gradient_variance_on_a_noisy_model():
    model = tiny_model(kind="noisy_lif", params={"sigma": 0.5, "noise_at_eval": True})
    assert model.stochastic
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.zeros(4, dtype=torch.long)

    def gradient(eot, seed):
        model.reseed(seed)
        with gradient_mode(model, "surrogate") as mode:
            return AttackContext(model, cross_entropy, eot, mode).loss_and_grad(x, y)[2]

    def spread(eot):
        grads = torch.stack([gradient(eot, seed) for seed in range(6)])
        return grads.var(0).sum().item()

    assert spread(10) < 0.3 * spread(1)


def test_apgd_halves_a_stalled_step_size_at_every_checkpoint():
    flat = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        flat[1].weight.zero_()  # constant logits: the loss never rises
        flat[1].bias.copy_(torch.arange(10.0, 0.0, -1.0))  # and class 0, the label, always wins
    x = torch.rand(3, 1, 8, 8)
    y = torch.zeros(3, dtype=torch.long)
    seen = []
    with gradient_mode(flat, "none") as mode:
        ctx = AttackContext(flat, cross_entropy, 1, mode)
        apgd_run(ctx, x, y, x.clone(), FoolingTracker(x, y), eps=EPS, steps=100,
                 on_checkpoint=lambda it, index, eta: seen.append((it, eta[0].item())))
    assert [it for it, _ in seen] == [22, 41, 57, 70, 80, 87, 93, 99]
    assert [eta for _, eta in seen] == pytest.approx([2 * EPS / 2 ** j for j in range(1, 9)])


def test_dlr_losses():
    logits = torch.tensor([[3.0, 1.0, 0.5, 0.0], [0.0, 2.0, 1.0, -1.0]])
    y = torch.tensor([0, 0])
    torch.testing.assert_close(dlr_loss(logits, y), torch.tensor([-(3 - 1) / (3 - 0.5), -(0 - 2) / (2 - 0)]))
    torch.testing.assert_close(dlr_loss(7 * logits + 2, y), dlr_loss(logits, y))  # scale and shift invariant
    target = torch.tensor([2, 2])
    torch.testing.assert_close(targeted_dlr_loss(logits, torch.stack([y, target], 1)),
                               torch.tensor([-(3 - 0.5) / (3 - 0.25), -(0 - 1) / (2 - (0 - 1) / 2)]))


def test_square_schedule_and_margin():
    from snnbench.attacks.square import margin, square_fraction

    assert square_fraction(0.8, 5, 10000) == 0.8
    assert square_fraction(0.8, 11, 10000) == 0.4
    assert square_fraction(0.8, 9000, 10000) == 0.8 / 512
    assert square_fraction(0.8, 100, 1000) == 0.8 / 16  # rescaled to 10 000 queries: 1000
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    torch.testing.assert_close(margin(logits, torch.tensor([0, 0])), torch.tensor([1.0, -3.0]))


def test_square_needs_no_gradient():
    class Opaque(nn.Module):  # gradients through this model are zero: gradient attacks see nothing
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(64, 10)

        def forward(self, x):
            return self.linear(x.flatten(1).detach() + 0 * x.flatten(1))

    torch.manual_seed(1)
    model = Opaque()
    x = torch.rand(8, 1, 8, 8) * 0.5 + 0.25
    with torch.no_grad():
        y = model(x).argmax(1)
    pgd_adv = PGD(eps=0.3, steps=5, random_start=False, gradient=GradientSpec("none"))(model, x, y)
    assert torch.equal(pgd_adv, x)
    square_adv = Square(eps=0.3, queries=200)(model, x, y)
    with torch.no_grad():
        assert (model(square_adv).argmax(1) != y).any()


EARLY_EPS = 0.02  # fools 10 or 11 of the 16 fixture samples: some drop out early, some never do
EARLY_STOPPING = {
    "apgd-ce": lambda: APGD(eps=EARLY_EPS, steps=10, seed=5),
    "apgd-dlr-restarts": lambda: APGD(eps=EARLY_EPS, steps=5, loss_name="dlr", restarts=2, seed=5),
    "apgd-t": lambda: APGDT(eps=EARLY_EPS, steps=5, targets=3, seed=5),
    "sapgd-assg": lambda: SAPGD(eps=EARLY_EPS, steps=10, seed=5),
    "sapgd-assg-restarts": lambda: SAPGD(eps=EARLY_EPS, steps=5, seed=5, A_values=(0.6, 0.87)),
    "sapgd-surrogate": lambda: SAPGD(eps=EARLY_EPS, steps=10, seed=5, gradient=GradientSpec("surrogate")),
}


def _keep_every_sample(monkeypatch):
    """The plain path: fooled samples stay in the batch to the end (the result must not change)."""
    def update(self, x_current, logits):
        self.tracker.update(x_current, logits, self.index)
        return None

    monkeypatch.setattr(ActiveSamples, "update", update)


@pytest.mark.parametrize("name", sorted(EARLY_STOPPING))
def test_dropping_fooled_samples_changes_no_result(fixture, monkeypatch, name):
    model, x, y = fixture
    counted = []
    handle = model.register_forward_hook(lambda module, inputs, output: counted.append(len(inputs[0])))
    early = EARLY_STOPPING[name]()(model, x, y)
    early_work = sum(counted)
    counted.clear()
    with monkeypatch.context() as patch:
        _keep_every_sample(patch)
        plain = EARLY_STOPPING[name]()(model, x, y)
    handle.remove()
    with torch.no_grad():
        fooled, fooled_plain = model(early).argmax(1) != y, model(plain).argmax(1) != y
    assert torch.equal(fooled, fooled_plain)
    assert 0 < fooled.sum() < len(x)
    # Equal up to rounding: a compiled kernel's vector tail (ASSG statistics) moves with the batch size.
    torch.testing.assert_close(early, plain, rtol=0, atol=1e-6)
    assert early_work < sum(counted)  # the fooled samples really left the batch


def test_inputs_that_would_mean_nothing_are_refused():
    model = tiny_model()
    x, y = torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="PGD: images hold 1 NaN or infinite values"):
        PGD(eps=EPS)(model, nan, y)
    with pytest.raises(ValueError, match="labels must be integer classes in \\[0, 10\\), got torch.int64 values in "
                                         "\\[0, 12\\]"):
        PGD(eps=EPS)(model, x, torch.tensor([0, 12]))
    with pytest.raises(ValueError, match="labels must be integer classes"):
        Square(eps=EPS, queries=2)(model, x, torch.tensor([-1, 0]))


def test_apgdt_refuses_a_loss_it_would_not_use():
    """Every APGD-T run ascends the targeted DLR loss: a protocol entry asking it for CE must not run DLR silently."""
    with pytest.raises(ValueError, match="APGDT: every run ascends the targeted DLR loss; loss_name 'ce' does not"):
        APGDT(eps=EPS, loss_name="ce")
    assert APGDT(eps=EPS).loss_label == "targeted dlr"
