"""Users, API tokens and events."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, SecretStr

from .enums import NodeStatus


class User(BaseModel):
    id: int
    username: str
    email: str = ""
    is_superuser: bool = False
    is_local: bool = True


class ApiToken(BaseModel):
    """An OAuth 1 token as MAAS forms API keys: consumer_key:token_key:token_secret."""

    id: int
    user_id: int
    name: str = ""
    consumer_key: str
    token_key: str
    token_secret: SecretStr

    @property
    def api_key(self) -> str:
        return f"{self.consumer_key}:{self.token_key}:{self.token_secret.get_secret_value()}"


class Event(BaseModel):
    id: int
    type: str
    description: str = ""
    created: datetime
    system_id: str | None = None
    hostname: str | None = None
    username: str | None = None
    from_status: NodeStatus | None = None
    to_status: NodeStatus | None = None
    comment: str = ""
    level: str = "INFO"
    extra: dict[str, str] = Field(default_factory=dict)
