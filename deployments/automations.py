"""The Automations declared in deployments/automations.yaml, created or updated in place
by name, so `quoteflow deploy` run twice leaves one of each."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect import get_client
from prefect.events.schemas.automations import AutomationCore

AUTOMATIONS_YAML = Path(__file__).resolve().parent / "automations.yaml"


def declared_automations(path: Path = AUTOMATIONS_YAML) -> list[AutomationCore]:
    """The declared automations, validated by Prefect's own model."""
    return [
        AutomationCore.model_validate(a) for a in yaml.safe_load(path.read_text())["automations"]
    ]


def ensure_automations(path: Path = AUTOMATIONS_YAML) -> list[str]:
    """Create each declared automation, or update the one of that name (deleting any
    extra copies); returns a line per automation."""
    lines = []
    with get_client(sync_client=True) as client:
        for automation in declared_automations(path):
            existing = client.read_automations_by_name(automation.name)
            if existing:
                keep, *extra = existing
                client.update_automation(keep.id, automation)
                for dup in extra:
                    client.delete_automation(dup.id)
                lines.append(f"automation {automation.name}: updated ({keep.id})")
            else:
                new_id = client.create_automation(automation)
                lines.append(f"automation {automation.name}: created ({new_id})")
    return lines
