"""Shared network pieces: the scanned GRU computes flax's GRUCell and resets correctly."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_lite.algorithms._common.networks import ScannedGRU


def test_scanned_gru_matches_grucell_and_resets():
    t, b, d, h = 5, 3, 4, 6
    x = jax.random.normal(jax.random.key(0), (t, b, d))
    resets = jnp.zeros((t, b), bool).at[3, 1].set(True)
    gru = ScannedGRU(h)
    p = gru.init(jax.random.key(1), jnp.zeros((b, h)), (x, resets))["params"]
    wr, wz, wn = jnp.split(p["w_hidden"], 3, axis=1)
    ir, iz, in_ = jnp.split(p["w_input"], 3, axis=1)
    br, bz, bn = jnp.split(p["b_input"], 3)
    cell = nn.GRUCell(h)
    cp = {"ir": {"kernel": ir, "bias": br}, "iz": {"kernel": iz, "bias": bz},
          "in": {"kernel": in_, "bias": bn}, "hr": {"kernel": wr}, "hz": {"kernel": wz},
          "hn": {"kernel": wn, "bias": p["b_hidden_n"]}}
    carry = jax.random.normal(jax.random.key(2), (b, h))
    ours_carry, ours = gru.apply({"params": p}, carry, (x, resets))
    ref, hs = carry, []
    for i in range(t):
        ref = jnp.where(resets[i][:, None], 0.0, ref)
        ref, _ = cell.apply({"params": cp}, ref, x[i])
        hs.append(ref)
    np.testing.assert_allclose(ours, jnp.stack(hs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_carry, ref, rtol=1e-5, atol=1e-6)
    # after the reset, env 1 evolves as from a zero carry
    _, fresh = gru.apply({"params": p}, jnp.zeros((b, h)), (x[3:], jnp.zeros((2, b), bool)))
    np.testing.assert_allclose(ours[3:, 1], fresh[:, 1], rtol=1e-5, atol=1e-6)


def test_orthogonal_init_matches_flax_without_lapack():
    from jaxmarl_lite.algorithms._common.networks import orthogonal

    for shape in [(7, 3), (3, 7), (16, 16)]:
        key = jax.random.key(4)
        ours = orthogonal(2.0)(key, shape)
        ref = nn.initializers.orthogonal(2.0)(key, shape)  # same Gaussian draw, LAPACK QR
        np.testing.assert_allclose(ours, ref, atol=2e-5)
        small = min(shape)
        gram = ours.T @ ours if shape[0] >= shape[1] else ours @ ours.T
        np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-4)
    # batched (vmapped) init lowers to matmuls only: no LAPACK custom call
    batched = jax.jit(jax.vmap(lambda k: orthogonal()(k, (8, 8))))
    hlo = batched.lower(jax.random.split(jax.random.key(0), 4)).as_text()
    assert "lapack" not in hlo.lower() and "custom_call" not in hlo


# ------------------------------------------------------------------ communication
def test_message_channel_mean_and_attention_exclude_the_receiver():
    from jaxmarl_lite.algorithms._common.networks import MessageChannel
    h = jax.random.normal(jax.random.key(0), (2, 3, 4))  # [B, N=3, H]
    mean = MessageChannel("mean", 5)
    p = mean.init(jax.random.key(1), h)
    msgs = nn.Dense(5).apply({"params": p["params"]["Dense_0"]}, h)  # each sender's message
    got = mean.apply(p, h)
    np.testing.assert_allclose(got[:, 0], (msgs[:, 1] + msgs[:, 2]) / 2, rtol=1e-5, atol=1e-6)
    att = MessageChannel("attention", 5)
    pa = att.init(jax.random.key(2), h)
    value = nn.Dense(5).apply({"params": pa["params"]["Dense_2"]}, h)
    # changing a receiver's own value never changes what it receives
    bumped = h.at[:, 0].add(3.0)
    out, out2 = att.apply(pa, h), att.apply(pa, bumped)
    assert out.shape == (2, 3, 5) and not np.allclose(out[:, 1], out2[:, 1])
    q = nn.Dense(5).apply({"params": pa["params"]["Dense_0"]}, h)
    k = nn.Dense(5).apply({"params": pa["params"]["Dense_1"]}, h)
    w = jax.nn.softmax(jnp.einsum("bc,bjc->bj", q[:, 0], k[:, 1:]) / np.sqrt(5), axis=-1)
    np.testing.assert_allclose(out[:, 0], jnp.einsum("bj,bjc->bc", w, value[:, 1:]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(MessageChannel("mean", 5).apply(p, h[:, :1]), 0.0)


def test_a_trained_comm_policy_uses_its_messages():
    import jaxmarl_lite as jl
    from jaxmarl_lite.algorithms import mappo
    from jaxmarl_lite.algorithms._common.networks import MessageChannel
    env = jl.make("grid_meet", observe_others=False, random_starts=True)
    cfg = mappo.PRESETS["grid_quick"].replace(total_timesteps=20_480, comm="mean")
    params = jax.jit(mappo.make_train(cfg, env))(jax.random.key(0)).carry.params
    policy = mappo.make_policy(cfg, env)
    obs, state = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), 64))
    mask = jax.vmap(env.action_mask)(state)
    act = lambda: policy.act(params, policy.init_carry(64), obs, mask,  # noqa: E731
                             jnp.ones(64, bool), None)[0]

    def silence(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        return jnp.zeros_like(out) if isinstance(context.module, MessageChannel) else out

    with nn.intercept_methods(silence):
        muted = act()
    assert (np.asarray(act()) != np.asarray(muted)).mean() > 0.1
    with pytest.raises(ValueError, match="comm"):
        mappo.Config(comm="mean", parameter_sharing=False)
    with pytest.raises(TypeError, match="comm"):
        mappo.Config(comm="loud")
