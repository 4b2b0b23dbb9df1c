"""Procedural 4D scenes by vectorised ray casting of analytic primitives (numpy only).

A scene is a textured room (or an open ground plane under a sky, whose pixels have no depth) with spheres
and boxes, some of which move and spin, seen by a moving pinhole camera. Depth, cameras, pointmaps and
dynamic masks are exact by construction; textures are solid (3D) patterns attached to each surface, so a
surface point keeps its colour across frames. Everything is drawn from ``numpy.random.default_rng(seed)``
and motions are parametrised by normalised time, so the same seed gives the same scene at any frame count
or resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from one4d_geometry.rotations import axis_angle_to_matrix

from .cameras import pose_matrix, relative_to_first
from .clip import Clip

TRAJECTORIES = ("orbit", "dolly", "pan", "handheld", "static")
FOCAL_RANGE = (0.5, 1.4)
"""fx / width of the scenes is drawn uniformly from this range (fy = fx)."""
SCENES = ("room", "outdoor")

_NEAR = 0.05
_PALETTE = {
    "red": (0.85, 0.2, 0.15),
    "orange": (0.95, 0.55, 0.1),
    "yellow": (0.95, 0.85, 0.2),
    "green": (0.25, 0.7, 0.3),
    "teal": (0.1, 0.6, 0.6),
    "blue": (0.2, 0.35, 0.85),
    "purple": (0.55, 0.3, 0.75),
    "pink": (0.95, 0.5, 0.7),
    "white": (0.92, 0.92, 0.9),
    "brown": (0.5, 0.33, 0.2),
    "grey": (0.5, 0.5, 0.52),
}


@dataclass
class _Object:
    kind: str  # "sphere" or "box"
    center0: np.ndarray  # (3,) scene position at s = 0
    velocity: np.ndarray  # (3,) displacement over the whole clip
    bounce: np.ndarray  # (3,) amplitude of a sinusoidal bob
    bounce_freq: float
    spin: np.ndarray  # (3,) axis-angle rotation over the whole clip
    rotation0: np.ndarray  # (3, 3) object-to-scene rotation at s = 0
    size: np.ndarray  # sphere: (radius,); box: (3,) half extents
    colour_name: str
    dynamic: bool

    def centres(self, s: np.ndarray) -> np.ndarray:
        """Object centres (n, 3) at normalised times ``s`` (n,)."""
        s = np.asarray(s, dtype=np.float64)[:, None]
        return self.center0 + self.velocity * s + self.bounce * np.sin(2 * np.pi * self.bounce_freq * s)

    def rotations(self, s: np.ndarray) -> np.ndarray:
        """Object-to-scene rotations (n, 3, 3) at normalised times ``s``: spin about a fixed axis."""
        return axis_angle_to_matrix(np.asarray(s, dtype=np.float64)[:, None] * self.spin) @ self.rotation0

    @property
    def bounding_radius(self) -> float:
        return float(self.size[0] if self.kind == "sphere" else np.linalg.norm(self.size))


def _look_rotation(forward: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """World-to-camera rotation looking along ``forward`` with scene +y as "down"."""
    f = forward / np.linalg.norm(forward)
    right = np.cross([0.0, 1.0, 0.0], f)
    right /= np.linalg.norm(right)
    down = np.cross(f, right)
    rot = np.stack([right, down, f])
    if roll:
        c, s = np.cos(roll), np.sin(roll)
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ rot
    return rot


def _direction(yaw: float, pitch: float) -> np.ndarray:
    """Unit vector with yaw about the down axis and pitch (positive looks down)."""
    return np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])


def _camera_path(rng: np.random.Generator, kind: str, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Camera centres (F, 3) and world-to-camera rotations (F, 3, 3) in the scene frame, and a caption."""
    yaw0 = rng.uniform(-0.35, 0.35)
    pitch0 = rng.uniform(-0.05, 0.3)
    origin = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.15, 0.15), rng.uniform(-0.3, 0.3)])
    n = s.shape[0]
    if kind == "orbit":
        radius = rng.uniform(2.5, 4.0)
        sweep = rng.choice([-1, 1]) * rng.uniform(0.25, 0.7)
        pivot = origin + radius * _direction(yaw0, pitch0)
        yaws = yaw0 + sweep * s
        centres = pivot[None] - radius * np.stack([_direction(y, pitch0) for y in yaws])
        rots = np.stack([_look_rotation(pivot - c) for c in centres])
        return centres, rots, f"the camera orbits {'left' if sweep > 0 else 'right'} around the scene"
    if kind == "dolly":
        move = (
            rng.uniform(0.4, 1.4) * _direction(yaw0, 0.0)
            + rng.uniform(-0.6, 0.6) * _direction(yaw0 + np.pi / 2, 0.0)
            + np.array([0.0, rng.uniform(-0.2, 0.2), 0.0])
        )
        centres = origin[None] + s[:, None] * move[None]
        rot = _look_rotation(_direction(yaw0, pitch0))
        return centres, np.repeat(rot[None], n, 0), "the camera moves forward"
    if kind == "pan":
        sweep = rng.choice([-1, 1]) * rng.uniform(0.2, 0.6)
        tilt = rng.uniform(-0.15, 0.15)
        rots = np.stack([_look_rotation(_direction(yaw0 + sweep * t, pitch0 + tilt * t)) for t in s])
        return np.repeat(origin[None], n, 0), rots, f"the camera pans {'right' if sweep > 0 else 'left'}"
    if kind == "handheld":
        amp = rng.uniform(0.05, 0.3, size=(2, 3))
        freq = rng.uniform(0.3, 1.5, size=(2, 3))
        phase = rng.uniform(0, 2 * np.pi, size=(2, 3))
        wave = np.sin(2 * np.pi * freq[None] * s[:, None, None] + phase[None])
        centres = origin[None] + (amp[None] * (wave - np.sin(phase)[None])).sum(1)
        wobble = rng.uniform(0.02, 0.08, size=3)
        wf = rng.uniform(0.5, 2.0, size=3)
        angles = wobble[None] * np.sin(2 * np.pi * wf[None] * s[:, None])
        rots = np.stack([_look_rotation(_direction(yaw0 + a[0], pitch0 + a[1]), roll=a[2]) for a in angles])
        return centres, rots, "a handheld camera shakes slightly"
    if kind == "static":
        rot = _look_rotation(_direction(yaw0, pitch0))
        return np.repeat(origin[None], n, 0), np.repeat(rot[None], n, 0), "the camera is static"
    raise ValueError(f"unknown trajectory {kind!r}; choose from {TRAJECTORIES}")


def _place_objects(
    rng: np.random.Generator,
    count: int,
    num_dynamic: int,
    centres: np.ndarray,
    rot0: np.ndarray,
    fov_xy: tuple[float, float],
    floor_y: float,
) -> list[_Object]:
    objects: list[_Object] = []
    names = list(_PALETTE)
    probe = np.linspace(0.0, 1.0, 9)
    for i in range(count):
        for _ in range(30):
            kind = "sphere" if rng.random() < 0.5 else "box"
            size = np.array([rng.uniform(0.25, 0.75)]) if kind == "sphere" else rng.uniform(0.15, 0.6, 3)
            # A direction inside the first camera's view, at a distance in front of it.
            ray = np.array([rng.uniform(-0.8, 0.8) * fov_xy[0], rng.uniform(-0.7, 0.7) * fov_xy[1], 1.0])
            centre = centres[0] + rng.uniform(1.8, 5.5) * (rot0.T @ ray)
            centre[1] = min(centre[1], floor_y - 0.5 * size.min())
            dynamic = i < num_dynamic
            velocity = rng.normal(0, 0.6, 3) * [1.0, 0.3, 1.0] if dynamic else np.zeros(3)
            bounce = rng.uniform(-0.3, 0.3, 3) * [0.5, 1.0, 0.5] if dynamic else np.zeros(3)
            spin = rng.normal(0, 1.2, 3) if dynamic else np.zeros(3)
            obj = _Object(
                kind=kind,
                center0=centre,
                velocity=velocity,
                bounce=bounce,
                bounce_freq=float(rng.uniform(0.5, 2.0)),
                spin=spin,
                rotation0=axis_angle_to_matrix(rng.normal(0, 1.0, 3)),
                size=size,
                colour_name=str(rng.choice(names)),
                dynamic=dynamic,
            )
            path = obj.centres(probe)
            gap = np.linalg.norm(path[:, None] - centres[None, :: max(1, len(centres) // 9)], axis=-1).min()
            if gap > obj.bounding_radius + 0.6:
                objects.append(obj)
                break
    return objects


def _texture_params(rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """Solid texture of one surface: colour a (3), colour b (3), wave vector (3), phase, 1/cell, mix."""
    other = np.clip(colour * rng.uniform(0.3, 0.8) + rng.uniform(0, 0.35, 3), 0, 1)
    wave = rng.normal(0, 1, 3)
    wave *= rng.uniform(2.0, 14.0) / np.linalg.norm(wave)
    extra = [rng.uniform(0, 2 * np.pi), 1.0 / rng.uniform(0.12, 0.6), rng.uniform(0.2, 0.8)]
    return np.concatenate([colour, other, wave, extra]).astype(np.float32)


def _pattern(x: np.ndarray, y: np.ndarray, z: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Texture pattern in [0, 1] at solid-texture coordinates (x, y, z): a 3D checker mixed with a wave."""
    inv = params[10]
    cells = np.floor(x * inv) + np.floor(y * inv) + np.floor(z * inv)
    checker = cells - 2.0 * np.floor(cells * 0.5)
    wave = np.sin(x * params[6] + y * params[7] + z * params[8] + params[9])
    mix = params[11]
    return checker * mix + wave * (0.5 * (1.0 - mix)) + 0.5 * (1.0 - mix)


@dataclass
class _SceneParams:
    plane_normals: np.ndarray  # (P, 3), interior is normal . X < offset
    plane_offsets: np.ndarray  # (P,)
    wall_table: np.ndarray  # (P + 1, 6) shaded colours a, b per wall; last row for "no wall"
    floor_pattern: np.ndarray
    wall_pattern: np.ndarray
    objects: list[_Object]
    obj_textures: list[np.ndarray]
    light: np.ndarray
    sky_top: np.ndarray
    sky_bottom: np.ndarray
    far: float  # depth beyond this (the horizon of the ground plane) counts as sky


_CHUNK_PIXELS = 1 << 16  # frames are ray-cast in chunks of about this many pixels


def _per_frame(values) -> np.ndarray:
    """Per-frame scalars (n,) as float32 (n, 1, 1) for broadcasting against (n, H, W) images."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


def _affine(row_coef, rows: np.ndarray, col_coef, cols: np.ndarray, const) -> np.ndarray:
    """(n, H, W) = row_coef * rows + col_coef * cols + const with per-frame coefficients (n,),
    ``rows`` (n, H, 1) and ``cols`` (n, 1, W)."""
    return _per_frame(row_coef) * rows + (_per_frame(col_coef) * cols + _per_frame(const))


def _object_region(cc: np.ndarray, rb: float, K: np.ndarray, height: int, width: int):
    """Union over frames of the pixel box covering a sphere of radius ``rb`` at camera points ``cc`` (n, 3);
    None when it is behind every camera."""
    z = cc[:, 2]
    if np.all(z + rb < _NEAR):
        return None
    if np.any(z - rb <= _NEAR):
        return 0, height, 0, width
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    xs = np.stack([(cc[:, 0] + d) / (z + e) for d in (-rb, rb) for e in (-rb, rb)])
    ys = np.stack([(cc[:, 1] + d) / (z + e) for d in (-rb, rb) for e in (-rb, rb)])
    u0 = int(np.clip(np.floor((cx + fx * xs.min(0)).min()), 0, width))
    u1 = int(np.clip(np.ceil((cx + fx * xs.max(0)).max()) + 1, 0, width))
    v0 = int(np.clip(np.floor((cy + fy * ys.min(0)).min()), 0, height))
    v1 = int(np.clip(np.ceil((cy + fy * ys.max(0)).max()) + 1, 0, height))
    return (v0, v1, u0, u1) if u1 > u0 and v1 > v0 else None


def _render_frames(
    sp: _SceneParams,
    object_poses: list[tuple[np.ndarray, np.ndarray]],
    rot: np.ndarray,
    centre: np.ndarray,
    K: np.ndarray,
    c2w_rel: np.ndarray,
    rgb_out: np.ndarray,
    depth_out: np.ndarray,
    points_out: np.ndarray,
    dynamic_out: np.ndarray,
) -> None:
    """Ray-cast n frames (scene-frame cameras: world-to-camera ``rot`` (n, 3, 3), centres (n, 3)) into the
    outputs (n, H, W, ...). Object poses are (centres (n, 3), rotations (n, 3, 3)) per object."""
    n, height, width = depth_out.shape
    rx = (np.arange(width, dtype=np.float32)[None, None, :] - _per_frame(K[:, 0, 2])) / _per_frame(K[:, 0, 0])
    ry = (np.arange(height, dtype=np.float32)[None, :, None] - _per_frame(K[:, 1, 2])) / _per_frame(
        K[:, 1, 1]
    )
    num_planes = len(sp.plane_offsets)

    # Walls: depth of plane p along pixel rays is (offset - n.o) / ((R n) . ray); the nearest one wins.
    dist = np.full((n, height, width), np.inf, dtype=np.float32)
    ids = np.full((n, height, width), num_planes, dtype=np.int16)
    rn = np.einsum("fij,pj->fpi", rot, sp.plane_normals)  # R n per frame and plane
    for p in range(num_planes):
        num = _per_frame(sp.plane_offsets[p] - centre @ sp.plane_normals[p])
        den = _affine(rn[:, p, 1], ry, rn[:, p, 0], rx, rn[:, p, 2])
        hit = num / np.maximum(den, np.float32(1e-7))
        np.copyto(ids, np.int16(p), where=hit < dist)
        np.minimum(dist, hit, out=dist)
    dist[dist > sp.far] = np.inf

    # Wall colours from solid textures at the scene points X = R^T (D ray) + o.
    wx, wy, wz = (
        dist * _affine(rot[:, 1, k], ry, rot[:, 0, k], rx, rot[:, 2, k]) + _per_frame(centre[:, k])
        for k in range(3)
    )
    with np.errstate(invalid="ignore"):  # sky pixels give NaN here and are painted over below
        pattern = _pattern(wx, wy, wz, sp.wall_pattern)
        if num_planes:
            pattern = np.where(ids == 0, _pattern(wx, wy, wz, sp.floor_pattern), pattern)
    lut = np.take(sp.wall_table, ids.astype(np.intp), axis=0)  # (n, H, W, 6)
    colour = [lut[..., c] + pattern * (lut[..., c + 3] - lut[..., c]) for c in range(3)]

    # Objects: ray casting inside the union of their projected bounding boxes.
    light_cam = rot @ sp.light  # (n, 3)
    for j, (obj, (oc, orot)) in enumerate(zip(sp.objects, object_poses, strict=True)):
        cc = np.einsum("fij,fj->fi", rot, oc - centre)  # object centres in camera coordinates
        qc = rot @ orot  # object-to-camera rotations
        box = _object_region(cc, obj.bounding_radius, K, height, width)
        if box is None:
            continue
        v0, v1, u0, u1 = box
        bx, by = rx[:, :, u0:u1], ry[:, v0:v1, :]
        region = (slice(None), slice(v0, v1), slice(u0, u1))
        sub = dist[region]
        ccx, ccy, ccz = (_per_frame(cc[:, k]) for k in range(3))
        if obj.kind == "sphere":
            radius = float(obj.size[0])
            b = bx * ccx + by * ccy + ccz
            rr = bx * bx + by * by + np.float32(1.0)
            disc = b * b - rr * _per_frame((cc * cc).sum(1) - radius * radius)
            hit_d = (b - np.sqrt(np.maximum(disc, 0))) / rr
            ok = (disc >= 0) & (hit_d > _NEAR) & (hit_d < sub)
            if not ok.any():
                continue
            rel = (hit_d * bx - ccx, hit_d * by - ccy, hit_d - ccz)
            local = [sum(_per_frame(qc[:, i, k]) * rel[i] for i in range(3)) for k in range(3)]
            shade_dot = sum(_per_frame(light_cam[:, i] / radius) * rel[i] for i in range(3))
        else:
            half = obj.size.astype(np.float32)
            o_l = -np.einsum("fik,fi->fk", qc, cc)  # camera centre in object coordinates
            dirs = [
                _per_frame(qc[:, 0, k]) * bx + _per_frame(qc[:, 1, k]) * by + _per_frame(qc[:, 2, k])
                for k in range(3)
            ]
            t_lo, t_hi = [], []
            with np.errstate(divide="ignore", invalid="ignore"):
                for k in range(3):
                    inv = np.float32(1.0) / dirs[k]
                    t1 = (-half[k] - _per_frame(o_l[:, k])) * inv
                    t2 = (half[k] - _per_frame(o_l[:, k])) * inv
                    t_lo.append(np.minimum(t1, t2))
                    t_hi.append(np.maximum(t1, t2))
            hit_d = np.maximum(np.maximum(t_lo[0], t_lo[1]), t_lo[2])
            t_far = np.minimum(np.minimum(t_hi[0], t_hi[1]), t_hi[2])
            ok = (hit_d <= t_far) & (hit_d > _NEAR) & (hit_d < sub)
            if not ok.any():
                continue
            local = [_per_frame(o_l[:, k]) + hit_d * dirs[k] for k in range(3)]
            # |normal . light| for the face entered: the axis whose slab is entered last.
            facing = [_per_frame(np.einsum("fi,fi->f", qc[:, :, k], light_cam)) for k in range(3)]
            shade_dot = np.where(
                t_lo[0] == hit_d, facing[0], np.where(t_lo[1] == hit_d, facing[1], facing[2])
            )
        tex = sp.obj_textures[j]
        with np.errstate(invalid="ignore", over="ignore"):
            pat = _pattern(local[0], local[1], local[2], tex)
        shade = np.float32(0.45) + np.float32(0.55) * np.abs(shade_dot)
        sub[ok] = hit_d[ok]
        ids[region][ok] = num_planes + 1 + j
        for c in range(3):
            colour[c][region][ok] = ((tex[c] + pat * (tex[c + 3] - tex[c])) * shade)[ok]

    valid = dist < np.inf
    depth = np.where(valid, dist, np.float32(np.nan))
    depth_out[...] = depth
    for k in range(3):
        ray_rel = _affine(c2w_rel[:, k, 1], ry, c2w_rel[:, k, 0], rx, c2w_rel[:, k, 2])
        points_out[..., k] = depth * ray_rel + _per_frame(c2w_rel[:, k, 3])
    if not valid.all():
        elevation = np.clip((ry + 1.0) * 0.5, 0, 1)
        for c in range(3):
            sky = np.float32(sp.sky_top[c]) + elevation * np.float32(sp.sky_bottom[c] - sp.sky_top[c])
            colour[c] = np.where(valid, colour[c], sky)
    for c in range(3):
        rgb_out[..., c] = np.clip(colour[c] * np.float32(255.0) + np.float32(0.5), 0, 255)
    num_dynamic = sum(o.dynamic for o in sp.objects)
    if num_dynamic:
        dynamic_out[...] = (ids > num_planes) & (ids <= num_planes + num_dynamic)


def _describe(obj: _Object) -> str:
    article = "an" if obj.colour_name[0] in "aeiou" else "a"
    return f"{article} {obj.colour_name} {obj.kind}{' moving' if obj.dynamic else ''}"


def make_clip(
    seed: int,
    frames: int,
    height: int,
    width: int,
    *,
    scene: str | None = None,
    trajectory: str | None = None,
    num_objects: int | None = None,
    num_dynamic: int | None = None,
    focal: float | None = None,
    zoom: float | None = None,
) -> Clip:
    """A procedural clip: ``frames`` x ``height`` x ``width``, deterministic by ``seed``.

    Options (random from the seed when None): ``scene`` in ``SCENES``; ``trajectory`` in
    ``TRAJECTORIES``; ``num_objects`` (1-6) of which ``num_dynamic`` move; ``focal`` = fx / width
    (0.5-1.4, fy = fx); ``zoom`` = relative focal change over the clip (0 for most clips).
    The returned clip is lifted: c2w[0] = I, pointmaps in the first camera, ``valid`` = finite depth
    (sky pixels of outdoor scenes are invalid), ``dynamic`` = pixels of moving objects.
    """
    if frames < 1 or height < 2 or width < 2:
        raise ValueError(
            f"need frames >= 1 and an image of at least 2 x 2, got {frames} x {height} x {width}"
        )
    rng = np.random.default_rng(seed)
    scene = scene or str(rng.choice(SCENES, p=[0.7, 0.3]))
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; choose from {SCENES}")
    trajectory = trajectory or str(rng.choice(TRAJECTORIES, p=[0.25, 0.25, 0.2, 0.2, 0.1]))
    num_objects = int(rng.integers(1, 7)) if num_objects is None else int(num_objects)
    num_dynamic = int(rng.integers(1, max(num_objects, 1) + 1)) if num_dynamic is None else int(num_dynamic)
    num_dynamic = min(num_dynamic, num_objects) if num_objects > 0 else 0
    focal = float(rng.uniform(*FOCAL_RANGE)) if focal is None else float(focal)
    zoom = (float(rng.uniform(-0.3, 0.3)) if rng.random() < 0.15 else 0.0) if zoom is None else float(zoom)

    s = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    centres, w2c_rots, camera_text = _camera_path(rng, trajectory, s)
    fx0 = focal * width
    cx = (width - 1) / 2 + rng.uniform(-0.02, 0.02) * width
    cy = (height - 1) / 2 + rng.uniform(-0.02, 0.02) * height
    fxs = fx0 * (1.0 + zoom * s)
    K = np.zeros((frames, 3, 3))
    K[:, 0, 0] = fxs
    K[:, 1, 1] = fxs
    K[:, 0, 2] = cx
    K[:, 1, 2] = cy
    K[:, 2, 2] = 1.0

    floor_y = rng.uniform(1.1, 1.8)
    fov_xy = ((width / 2) / fx0, (height / 2) / fx0)
    objects = _place_objects(rng, num_objects, num_dynamic, centres, w2c_rots[0], fov_xy, floor_y)

    # Room bounds enclose the camera path and every object's motion with a random margin.
    extent = [centres]
    for obj in objects:
        path = obj.centres(np.linspace(0, 1, 9))
        extent += [path + obj.bounding_radius, path - obj.bounding_radius]
    pts = np.concatenate(extent)
    lo = pts.min(0) - rng.uniform(0.8, 3.0, 3)
    hi = pts.max(0) + rng.uniform(0.8, 4.0, 3)
    planes = [((0.0, 1.0, 0.0), floor_y)]  # (normal, offset): interior is normal . X < offset
    if scene == "room":
        planes += [((1, 0, 0), hi[0]), ((-1, 0, 0), -lo[0]), ((0, 0, 1), hi[2]), ((0, 0, -1), -lo[2])]
        planes += [((0, -1, 0), -min(lo[1], -rng.uniform(1.0, 2.0)))]
    plane_normals = np.asarray([p[0] for p in planes], dtype=np.float64)
    plane_offsets = np.asarray([p[1] for p in planes], dtype=np.float64)

    names = list(_PALETTE)
    wall_colours = np.stack(
        [np.array(_PALETTE[str(rng.choice(names))]) * rng.uniform(0.6, 1.0) for _ in planes]
    )
    light = rng.normal(0, 1, 3)
    light[1] = -abs(light[1]) - 0.5  # from above (scene y is down)
    light /= np.linalg.norm(light)
    wall_shade = 0.55 + 0.45 * np.abs(plane_normals @ light)
    # Per wall: shaded colour a and colour b (the floor has its own pattern, the other walls share one).
    wall_table = np.concatenate([wall_colours * wall_shade[:, None], np.zeros((len(planes), 3))], 1)
    for p in range(len(planes)):
        other = np.clip(wall_colours[p] * rng.uniform(0.3, 0.8) + rng.uniform(0, 0.3, 3), 0, 1)
        wall_table[p, 3:] = other * wall_shade[p]
    wall_table = np.concatenate([wall_table, np.zeros((1, 6))]).astype(np.float32)  # last row: no wall
    floor_pattern = _texture_params(rng, wall_colours[0])
    wall_pattern = _texture_params(rng, wall_colours[0])
    obj_textures = [_texture_params(rng, np.array(_PALETTE[o.colour_name])) for o in objects]
    sky_top = rng.uniform(0.3, 0.7, 3) * [0.6, 0.8, 1.0]
    sky_bottom = np.clip(sky_top + 0.35, 0, 1)
    scene_info = _SceneParams(
        plane_normals,
        plane_offsets,
        wall_table,
        floor_pattern,
        wall_pattern,
        objects,
        obj_textures,
        light,
        sky_top,
        sky_bottom,
        far=200.0 if scene == "room" else 80.0,
    )

    c2w_scene = pose_matrix(np.swapaxes(w2c_rots, 1, 2), centres)
    c2w = relative_to_first(c2w_scene)
    rgb = np.empty((frames, height, width, 3), dtype=np.uint8)
    depth = np.empty((frames, height, width), dtype=np.float32)
    pointmaps = np.empty((frames, height, width, 3), dtype=np.float32)
    dynamic = np.zeros((frames, height, width), dtype=bool)
    poses = [(obj.centres(s), obj.rotations(s)) for obj in objects]
    chunk = max(1, _CHUNK_PIXELS // (height * width))
    for f0 in range(0, frames, chunk):
        f = slice(f0, min(frames, f0 + chunk))
        _render_frames(
            scene_info,
            [(c[f], r[f]) for c, r in poses],
            w2c_rots[f],
            centres[f],
            K[f],
            c2w[f],
            rgb[f],
            depth[f],
            pointmaps[f],
            dynamic[f],
        )

    moving = [o for o in objects if o.dynamic]
    parts = [f"{'an indoor room' if scene == 'room' else 'an open ground plane under the sky'}"]
    if objects:
        parts.append("with " + ", ".join(_describe(o) for o in objects))
    caption = " ".join(parts) + f"; {camera_text}."
    return Clip(
        rgb=rgb,
        depth=depth,
        K=K,
        c2w=c2w,
        pointmaps=pointmaps,
        valid=np.isfinite(depth),
        dynamic=dynamic,
        caption=caption,
        source={
            "dataset": "synthetic",
            "path": f"synthetic:{seed}",
            "seed": int(seed),
            "scene": scene,
            "trajectory": trajectory,
            "num_objects": len(objects),
            "num_dynamic": len(moving),
        },
        timestamps=np.arange(frames, dtype=np.float64) / 24.0,
    )
