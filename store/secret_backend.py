"""The encrypted secret store's backend in the database (ciphertexts only; the master key stays on disk)."""

from __future__ import annotations

from store.models import Secret, utcnow


class DbSecretBackend:
    def get(self, name: str) -> bytes | None:
        row = Secret.get_or_none(Secret.name == name)
        return bytes(row.ciphertext) if row is not None else None

    def put(self, name: str, ciphertext: bytes) -> None:
        Secret.insert(name=name, ciphertext=ciphertext, updated_at=utcnow()).on_conflict(
            conflict_target=[Secret.name], update={"ciphertext": ciphertext, "updated_at": utcnow()}).execute()

    def delete(self, name: str) -> None:
        Secret.delete().where(Secret.name == name).execute()

    def names(self) -> list[str]:
        return [row.name for row in Secret.select(Secret.name).order_by(Secret.name)]
