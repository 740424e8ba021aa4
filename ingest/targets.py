"""Where and how to reach each camera: the catalog's public target plus the config's secrets.

Secrets never reach the catalog, so a worker joins the two in memory: the
camera's own `auth` if its department file lists it, else the department's
default (cameras from inventories take the department defaults). The
department's `allow_networks` goes with every target, for the addresses a
camera hands back itself (an ONVIF device's snapshot URI).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from catalog.netpolicy import Network
from catalog.polls import DueCamera
from config import AuthConfig, DepartmentConfig
from ingest.connectors import CameraTarget

NO_AUTH = AuthConfig(scheme="none", username=None, password=None)


class TargetBook:
    """Builds the `CameraTarget` for a leased camera."""

    def __init__(self, departments: Sequence[DepartmentConfig]) -> None:
        self._cameras: dict[str, AuthConfig] = {}
        self._defaults: dict[str, AuthConfig] = {}
        self._networks: dict[str, tuple[Network, ...]] = {}
        for department in departments:
            self._networks[department.id] = tuple(department.defaults.allow_networks)
            auth = department.defaults.auth
            self._defaults[department.id] = AuthConfig(
                scheme=auth.scheme, username=auth.username, password=auth.password
            )
            for camera in department.cameras:
                self._cameras[camera.uid] = camera.auth

    def auth_for(self, uid: str, department_id: str) -> AuthConfig:
        """The credentials for one camera."""
        return self._cameras.get(uid) or self._defaults.get(department_id, NO_AUTH)

    def __call__(self, camera: DueCamera) -> CameraTarget:
        auth = self.auth_for(camera.uid, camera.department_id)
        is_url = "://" in camera.target
        return CameraTarget(
            uid=camera.uid,
            kind=camera.kind,
            url=camera.target if is_url else None,
            path=None if is_url else Path(camera.target),
            auth_scheme=auth.scheme,
            username=auth.username,
            password=auth.password.get_secret_value() if auth.password is not None else None,
            timeout_s=camera.timeout_s,
            allow_networks=self._networks.get(camera.department_id, ()),
        )
