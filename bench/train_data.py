"""A seed-004-like tool-calling set for bench/train: COMMANDS tools x PER examples, one system
prompt listing every tool with its parameters (it dominates each sequence, as in seed 004).
Writes pairs.jsonl in jitgen's dataset format.

    python train_data.py OUT.jsonl [commands=30] [per=10]
"""
import json
import sys

VERBS = ["set", "get", "play", "turn", "open", "close", "call", "send", "start", "stop"]
NOUNS = ["timer", "weather", "music", "light", "door", "window", "mom", "message", "alarm", "radio",
         "fan", "heater", "oven", "blinds", "garage"]
ROOMS = ["kitchen", "bedroom", "office", "hall", "garage", "garden"]


def main():
    out = sys.argv[1]
    commands = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    per = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    names = [f"{VERBS[c % len(VERBS)]}_{NOUNS[c % len(NOUNS)]}_{c}" for c in range(commands)]
    system = ("You are the voice assistant of a home hub. Pick the one tool that serves the request and "
              "answer with a JSON tool call {\"name\": ..., \"arguments\": {...}}, or name null when no tool fits.\n"
              "Today is 2026-11-23 (Monday), timezone Europe/Paris.\nTools:\n")
    for n in names:
        system += (f"- {n}: {n.replace('_', ' ')} in a room of the house.\n"
                   f"  - room (str, required): One of: kitchen, bedroom, office, hall, garage, garden\n"
                   f"  - minutes (int, optional): How long, in minutes\n")
    with open(out, "w") as f:
        for c, name in enumerate(names):
            verb, noun, _ = name.split("_")
            for e in range(per):
                room = ROOMS[(c + e) % len(ROOMS)]
                user = [f"please {verb} the {noun} in the {room}", f"{verb} {noun} {room} for {e + 1} minutes",
                        f"could you {verb} my {noun} for the {room}"][e % 3]
                args = {"room": room} if e % 3 != 1 else {"minutes": e + 1, "room": room}
                target = json.dumps({"name": name, "arguments": args}, separators=(",", ":"), sort_keys=False)
                f.write(json.dumps({"split": "holdout" if e % 10 == 9 else "train", "system": system, "user": user,
                                    "target": target, "tool": name, "arguments": args, "required": ["room"],
                                    "kind": "positive", "command": name}) + "\n")


if __name__ == "__main__":
    main()
