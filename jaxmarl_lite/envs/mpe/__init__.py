"""The nine multi-agent particle-world tasks, semantically identical to mpe2 1.1.1.

Importing this package registers ``simple``, ``simple_spread``, ``simple_reference``,
``simple_speaker_listener``, ``simple_tag``, ``simple_adversary``, ``simple_push``,
``simple_crypto`` and ``simple_world_comm``, each also under mpe2's versioned name
(``simple_spread_v3``, ``simple_speaker_listener_v4``, ...).
"""
from jaxmarl_lite.envs.mpe.core import MPEEnv, MPEState, World
from jaxmarl_lite.envs.mpe.simple import Simple
from jaxmarl_lite.envs.mpe.simple_adversary import SimpleAdversary
from jaxmarl_lite.envs.mpe.simple_crypto import SimpleCrypto
from jaxmarl_lite.envs.mpe.simple_push import SimplePush
from jaxmarl_lite.envs.mpe.simple_reference import SimpleReference
from jaxmarl_lite.envs.mpe.simple_speaker_listener import SimpleSpeakerListener
from jaxmarl_lite.envs.mpe.simple_spread import SimpleSpread
from jaxmarl_lite.envs.mpe.simple_tag import SimpleTag
from jaxmarl_lite.envs.mpe.simple_world_comm import SimpleWorldComm
from jaxmarl_lite.registry import register

TASKS = {
    "simple": (Simple, "simple_v3"),
    "simple_spread": (SimpleSpread, "simple_spread_v3"),
    "simple_reference": (SimpleReference, "simple_reference_v3"),
    "simple_speaker_listener": (SimpleSpeakerListener, "simple_speaker_listener_v4"),
    "simple_tag": (SimpleTag, "simple_tag_v3"),
    "simple_adversary": (SimpleAdversary, "simple_adversary_v3"),
    "simple_push": (SimplePush, "simple_push_v3"),
    "simple_crypto": (SimpleCrypto, "simple_crypto_v3"),
    "simple_world_comm": (SimpleWorldComm, "simple_world_comm_v3"),
}

for _name, (_cls, _alias) in TASKS.items():
    register(_name, _cls, aliases=(_alias,))

__all__ = [
    "MPEEnv", "MPEState", "World", "TASKS", "Simple", "SimpleAdversary", "SimpleCrypto",
    "SimplePush", "SimpleReference", "SimpleSpeakerListener", "SimpleSpread", "SimpleTag",
    "SimpleWorldComm",
]
