"""Matrix games: pure Nash equilibria, Pareto optima and welfare of the classic 2x2 games,
and learning dynamics (fictitious play, replicator dynamics) converging to mixed equilibria.

    python examples/matrix_games.py   # a few seconds
"""
import argparse

from jaxmarl_lite import game_theory as gt
from jaxmarl_lite.envs.matrix_games import payoff_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="fewer dynamics iterations (CI)")
    args = parser.parse_args()
    iters = 200 if args.tiny else 2000
    for game in ("prisoners_dilemma", "stag_hunt", "chicken", "matching_pennies",
                 "climbing_game"):
        p = payoff_table(game)
        welfare_actions, welfare = gt.max_welfare(p)
        print(f"{game}: pure NE {gt.joint_actions(gt.pure_nash_equilibria(p))}, "
              f"Pareto optimal {gt.joint_actions(gt.pareto_optimal(p))}, "
              f"max welfare {float(welfare):g} at {gt.joint_actions(welfare_actions)}")
    rps = payoff_table("rock_paper_scissors")  # no pure NE; the mixed one is uniform
    fp = gt.fictitious_play(rps, iters)
    print("rock-paper-scissors, fictitious play:",
          [[round(float(x), 3) for x in s] for s in fp.strategies],
          f"NashConv {float(fp.nash_conv[-1]):.4f}")
    rd = gt.replicator_dynamics(payoff_table("stag_hunt"), iters, 0.1)
    print("stag hunt, replicator dynamics from uniform:",
          [[round(float(x), 3) for x in s] for s in rd.strategies])


if __name__ == "__main__":
    main()
