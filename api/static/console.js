// camgrid operator console: one plain ES module, no build step, no external resources.
//
// The token lives in sessionStorage and travels only in Authorization headers,
// so images are fetched as blobs and shown through object URLs (revoked when
// replaced). Every list the API pages is paged here too.

const API = "/api/v1";
const TOKEN_KEY = "camgrid.token";
const STATUSES = ["online", "degraded", "offline", "unknown", "retired"];
const STATUS_LABEL = {
  online: "在线",
  degraded: "异常",
  offline: "离线",
  unknown: "未知",
  retired: "已退役",
};
const WALL_PAGE_SIZE = 60;
const WALL_REFRESH_MS = 20_000;
const DATA_REFRESH_MS = 60_000;
const THUMB_CONCURRENCY = 6;
const LIST_MAX = 500;
const SEARCH_DEBOUNCE_MS = 250;
const SNAPSHOT_PAGE = 100;

const $ = (id) => document.getElementById(id);

/** An element with attributes (`class`, `dataset`, `on*` listeners, others) and children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// ---------------------------------------------------------------- formatting

const FULL_TIME = new Intl.DateTimeFormat("zh-CN", {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
const CLOCK = new Intl.DateTimeFormat("zh-CN", {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
const DAY_CLOCK = new Intl.DateTimeFormat("zh-CN", {
  month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});

function fullTime(iso) {
  return iso ? FULL_TIME.format(new Date(iso)) : "—";
}

/** Today's times as a clock; older ones with their day. */
function shortTime(iso) {
  if (!iso) return "—";
  const when = new Date(iso);
  const today = new Date().toDateString() === when.toDateString();
  return today ? CLOCK.format(when) : DAY_CLOCK.format(when);
}

const REASON_LABEL = {
  added: "新接入",
  "not polled yet": "尚未抓图",
  "back in source": "重新出现在来源中",
  "connection refused": "连接被拒绝",
  timeout: "超时",
  "timed out": "超时",
  "black image": "黑屏",
  "error image": "错误画面",
  "blurred image": "画面模糊",
  frozen: "画面冻结",
  "store unavailable": "存储不可用",
};
const FLAG_LABEL = { black: "黑屏", error_page: "错误画面", blurred: "模糊", frozen: "冻结" };

/** A status reason in Chinese where it is a known one; other text as it came. */
function reasonLabel(reason) {
  if (!reason) return "";
  const updated = reason.match(/^updated from config: (.*)$/);
  if (updated) return `配置已更新：${updated[1]}`;
  return reason
    .split(", ")
    .map((part) => REASON_LABEL[part] ?? (part.startsWith("left ") ? `已离开 ${part.slice(5)}` : part))
    .join("，");
}

function statusLabel(status) {
  return STATUS_LABEL[status] ?? status ?? "未知";
}

function badge(status) {
  return h("span", { class: `badge ${status}` }, statusLabel(status));
}

// ---------------------------------------------------------------- API access

class Unauthorized extends Error {}

class ApiError extends Error {
  constructor(status, detail) {
    super(`请求失败（${status}）：${detail}`);
    this.status = status;
  }
}

class NetworkError extends Error {
  constructor() {
    super("无法连接服务器（网络错误），稍后自动重试");
  }
}

function isAbort(error) {
  return error?.name === "AbortError";
}

const session = {
  token: null,
  /** Called when a request made with the session's token answers 401. */
  onUnauthorized: () => {},
};

async function request(path, { signal, params, token, method = "GET" } = {}) {
  const url = new URL(API + path, location.origin);
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${token ?? session.token}` },
      signal,
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new NetworkError();
  }
  if (response.status === 401) {
    if (!token) session.onUnauthorized();
    throw new Unauthorized("令牌无效、已过期或已被吊销，请重新登录");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      // not a problem+json answer: the status text is all there is
    }
    throw new ApiError(response.status, detail);
  }
  return response;
}

async function getJson(path, options) {
  return (await request(path, options)).json();
}

/** An image behind the token, as an object URL the caller must revoke. */
async function fetchImageUrl(url, signal) {
  const path = url.startsWith(API) ? url.slice(API.length) : url;
  const [pathname, query] = path.split("?");
  const params = Object.fromEntries(new URLSearchParams(query ?? ""));
  const blob = await (await request(pathname, { signal, params })).blob();
  return URL.createObjectURL(blob);
}

/** Every feature of a paged GeoJSON camera search. */
async function fetchAllCameras(params, signal) {
  const features = [];
  let cursor = null;
  for (let page = 0; page < 100; page += 1) {
    const answer = await getJson("/cameras", {
      signal,
      params: { ...params, format: "geojson", limit: 1000, cursor },
    });
    features.push(...answer.features);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return features;
}

/** Runs at most `limit` tasks at once, in the order they were queued. */
class TaskQueue {
  constructor(limit) {
    this.limit = limit;
    this.active = 0;
    this.waiting = [];
  }

  run(task) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ task, resolve, reject });
      this.pump();
    });
  }

  pump() {
    while (this.active < this.limit && this.waiting.length > 0) {
      const { task, resolve, reject } = this.waiting.shift();
      this.active += 1;
      Promise.resolve()
        .then(task)
        .then(resolve, reject)
        .finally(() => {
          this.active -= 1;
          this.pump();
        });
    }
  }
}

// ---------------------------------------------------------------- problems banner

const problems = new Map();

function reportProblem(source, error) {
  if (isAbort(error) || error instanceof Unauthorized) return;
  problems.set(source, error.message || String(error));
  renderBanner();
}

function clearProblem(source) {
  if (problems.delete(source)) renderBanner();
}

function renderBanner() {
  const banner = $("banner");
  banner.textContent = [...new Set(problems.values())].join("；");
  banner.hidden = problems.size === 0;
}

// ---------------------------------------------------------------- the map

function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function ringsOf(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

function insideRing(x, y, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The worst status among a cell's cameras, and its share, for shading. */
function cellShade(counts) {
  const total = counts?.total ?? 0;
  if (!total) return null;
  for (const status of ["offline", "degraded", "unknown", "online"]) {
    if (counts[status] > 0) return { status, share: counts[status] / total };
  }
  return null;
}

/**
 * The district on a canvas: lon/lat projected equirectangularly (x scaled by
 * cos of the mid latitude), grid cells shaded by status, cameras as dots.
 * Wheel zooms, drag pans, a click on a dot or a cell calls back.
 */
class DistrictMap {
  constructor(canvas, { onCell, onCamera, onHover }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.tip = $("map-tip");
    this.onCell = onCell;
    this.onCamera = onCamera;
    this.onHover = onHover;
    this.cells = [];
    this.cameras = [];
    this.matched = null;
    this.selectedCell = "";
    this.highlight = null;
    this.hoverCell = null;
    this.origin = { lon: 0, lat: 0, kx: 1 };
    this.view = { scale: 1, tx: 0, ty: 0 };
    this.fitScale = 1;
    this.touched = false;
    this.frame = 0;
    this.colors = Object.fromEntries(STATUSES.map((s) => [s, cssColor(`--${s}`)]));
    this.colors.accent = cssColor("--accent");
    this.colors.line = cssColor("--line");
    this.bindEvents();
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  // projection: lon/lat -> world (degrees of latitude) -> screen (CSS pixels)
  world(lon, lat) {
    return [(lon - this.origin.lon) * this.origin.kx, this.origin.lat - lat];
  }

  screen(lon, lat) {
    const [x, y] = this.world(lon, lat);
    return [x * this.view.scale + this.view.tx, y * this.view.scale + this.view.ty];
  }

  lonLat(sx, sy) {
    const x = (sx - this.view.tx) / this.view.scale;
    const y = (sy - this.view.ty) / this.view.scale;
    return [x / this.origin.kx + this.origin.lon, this.origin.lat - y];
  }

  setCells(features) {
    this.cells = features.map((feature) => {
      const polygons = ringsOf(feature.geometry);
      const xs = polygons.flatMap((p) => p[0].map((c) => c[0]));
      const ys = polygons.flatMap((p) => p[0].map((c) => c[1]));
      return {
        id: feature.properties.grid_id ?? feature.id,
        props: feature.properties,
        polygons,
        bbox: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)],
      };
    });
    const boxes = this.cells.map((c) => c.bbox).filter((b) => b.every(Number.isFinite));
    if (boxes.length > 0 && !this.touched) {
      const west = Math.min(...boxes.map((b) => b[0]));
      const south = Math.min(...boxes.map((b) => b[1]));
      const east = Math.max(...boxes.map((b) => b[2]));
      const north = Math.max(...boxes.map((b) => b[3]));
      const lat = (south + north) / 2;
      this.origin = { lon: (west + east) / 2, lat, kx: Math.cos((lat * Math.PI) / 180) };
      this.extent = { west, south, east, north };
      this.fit();
    }
    this.redraw();
  }

  setCameras(features) {
    this.cameras = features.filter((f) => f.geometry?.type === "Point");
    this.redraw();
  }

  /** `features` null: no filter, every camera bright. */
  setMatched(features) {
    this.matched = features ? features.filter((f) => f.geometry?.type === "Point") : null;
    this.matchedUids = this.matched ? new Set(this.matched.map((f) => f.id)) : null;
    this.redraw();
  }

  setSelectedCell(id) {
    this.selectedCell = id;
    this.redraw();
  }

  setHighlight(uid) {
    this.highlight = uid;
    this.redraw();
  }

  size() {
    return { w: this.canvas.clientWidth, h: this.canvas.clientHeight };
  }

  fit() {
    if (!this.extent) return;
    const { w, h } = this.size();
    const [x0, y0] = this.world(this.extent.west, this.extent.north);
    const [x1, y1] = this.world(this.extent.east, this.extent.south);
    const scale = Math.min((w - 24) / (x1 - x0 || 1), (h - 24) / (y1 - y0 || 1));
    this.fitScale = scale > 0 ? scale : 1;
    this.view = {
      scale: this.fitScale,
      tx: w / 2 - ((x0 + x1) / 2) * this.fitScale,
      ty: h / 2 - ((y0 + y1) / 2) * this.fitScale,
    };
    this.redraw();
  }

  zoomAt(factor, sx, sy) {
    const min = this.fitScale * 0.6;
    const max = this.fitScale * 60;
    const scale = Math.min(max, Math.max(min, this.view.scale * factor));
    const k = scale / this.view.scale;
    this.view = { scale, tx: sx - (sx - this.view.tx) * k, ty: sy - (sy - this.view.ty) * k };
    this.touched = true;
    this.redraw();
  }

  zoom(factor) {
    const { w, h } = this.size();
    this.zoomAt(factor, w / 2, h / 2);
  }

  pan(dx, dy) {
    this.view = { ...this.view, tx: this.view.tx + dx, ty: this.view.ty + dy };
    this.touched = true;
    this.redraw();
  }

  /** Center on a camera and zoom in. */
  focusOn(feature) {
    if (!feature?.geometry) return;
    const { w, h } = this.size();
    const [lon, lat] = feature.geometry.coordinates;
    const scale = Math.max(this.view.scale, this.fitScale * 4);
    const [x, y] = this.world(lon, lat);
    this.view = { scale, tx: w / 2 - x * scale, ty: h / 2 - y * scale };
    this.touched = true;
    this.setHighlight(feature.id);
  }

  resize() {
    const { w, h } = this.size();
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(w * dpr));
    this.canvas.height = Math.max(1, Math.round(h * dpr));
    if (!this.touched) this.fit();
    this.redraw();
  }

  redraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  pointRadius() {
    const zoom = this.view.scale / this.fitScale;
    return Math.min(7, Math.max(3, 3 * Math.sqrt(zoom)));
  }

  tracePolygons(ctx, polygons) {
    ctx.beginPath();
    for (const polygon of polygons) {
      for (const ring of polygon) {
        ring.forEach(([lon, lat], i) => {
          const [x, y] = this.screen(lon, lat);
          if (i === 0) ctx.moveTo(x, y);
          else ctx.lineTo(x, y);
        });
        ctx.closePath();
      }
    }
  }

  draw() {
    const ctx = this.ctx;
    const dpr = window.devicePixelRatio || 1;
    const { w, h } = this.size();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    let drawnCells = 0;
    for (const cell of this.cells) {
      this.tracePolygons(ctx, cell.polygons);
      const shade = cellShade(cell.props.cameras);
      if (shade) {
        // Problems tint by their share of the cell's cameras, so one bad camera stays subtle.
        const calm = shade.status === "online" || shade.status === "unknown";
        ctx.globalAlpha = calm ? 0.16 : 0.12 + 0.55 * shade.share;
        ctx.fillStyle = this.colors[shade.status];
        ctx.fill();
        ctx.globalAlpha = 1;
      }
      ctx.lineWidth = 1;
      ctx.strokeStyle = this.colors.line;
      ctx.stroke();
      drawnCells += 1;
    }
    this.drawCellLabels(ctx);
    for (const id of [this.hoverCell?.id, this.selectedCell]) {
      const cell = id && this.cells.find((c) => c.id === id);
      if (!cell) continue;
      this.tracePolygons(ctx, cell.polygons);
      ctx.lineWidth = id === this.selectedCell ? 2.5 : 1.5;
      ctx.strokeStyle = id === this.selectedCell ? this.colors.accent : "#c9d3dd";
      ctx.stroke();
    }
    const drawnPoints = this.drawCameras(ctx);
    this.canvas.dataset.cells = String(drawnCells);
    this.canvas.dataset.points = String(drawnPoints);
    this.canvas.dataset.matched = String(this.matched ? this.matched.length : drawnPoints);
    const shown = this.matched ? `，筛选出 ${this.matched.length} 个` : "";
    this.canvas.setAttribute(
      "aria-label",
      `辖区地图：${drawnCells} 个网格，${this.cameras.length} 个摄像机${shown}。方向键平移，加减号缩放。`,
    );
  }

  drawCellLabels(ctx) {
    const sample = this.cells[0];
    if (!sample) return;
    const [x0] = this.screen(sample.bbox[0], sample.bbox[1]);
    const [x1] = this.screen(sample.bbox[2], sample.bbox[1]);
    if (x1 - x0 < 50) return;
    ctx.font = "11px 'Noto Sans CJK SC', sans-serif";
    ctx.fillStyle = "rgba(231, 236, 241, 0.6)";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const cell of this.cells) {
      const [left, top] = this.screen(cell.bbox[0], cell.bbox[3]);
      const [right] = this.screen(cell.bbox[2], cell.bbox[3]);
      const room = right - left - 6;
      const name = cell.props.name ?? cell.id;
      // The whole name if it fits, else the part after the community ("第3网格").
      const short = cell.props.community ? name.replace(cell.props.community, "") : name;
      const label = [name, short].find((text) => ctx.measureText(text).width <= room);
      if (label) ctx.fillText(label, (left + right) / 2, top + 4);
    }
  }

  drawCameras(ctx) {
    const r = this.pointRadius();
    const bright = this.matched ?? this.cameras;
    let count = 0;
    if (this.matched) {
      ctx.fillStyle = "rgba(155, 167, 180, 0.35)";
      for (const f of this.cameras) {
        if (this.matchedUids.has(f.id)) continue;
        const [x, y] = this.screen(...f.geometry.coordinates);
        ctx.beginPath();
        ctx.arc(x, y, Math.max(1.5, r * 0.5), 0, Math.PI * 2);
        ctx.fill();
        count += 1;
      }
    }
    ctx.lineWidth = this.matched ? 1.5 : 1;
    ctx.strokeStyle = this.matched ? "#ffffff" : "rgba(0, 0, 0, 0.7)";
    for (const f of bright) {
      const [x, y] = this.screen(...f.geometry.coordinates);
      ctx.beginPath();
      ctx.arc(x, y, r, 0, Math.PI * 2);
      ctx.fillStyle = this.colors[f.properties.status] ?? this.colors.unknown;
      ctx.fill();
      ctx.stroke();
      count += 1;
    }
    const marked = this.highlight && bright.concat(this.cameras).find((f) => f.id === this.highlight);
    this.canvas.dataset.highlight = marked ? marked.id : "";
    if (marked) {
      const [x, y] = this.screen(...marked.geometry.coordinates);
      ctx.beginPath();
      ctx.arc(x, y, r + 6, 0, Math.PI * 2);
      ctx.lineWidth = 3;
      ctx.strokeStyle = this.colors.accent;
      ctx.stroke();
    }
    return count;
  }

  /** The camera dot under a screen point (matched ones first), or null. */
  cameraAt(sx, sy) {
    const reach = this.pointRadius() + 4;
    let best = null;
    let bestDistance = reach * reach;
    for (const list of [this.matched ?? this.cameras, this.matched ? this.cameras : []]) {
      for (const f of list) {
        const [x, y] = this.screen(...f.geometry.coordinates);
        const d = (x - sx) ** 2 + (y - sy) ** 2;
        if (d <= bestDistance) {
          best = f;
          bestDistance = d;
        }
      }
      if (best) return best;
    }
    return null;
  }

  cellAt(sx, sy) {
    const [lon, lat] = this.lonLat(sx, sy);
    return (
      this.cells.find((cell) => {
        const [w, s, e, n] = cell.bbox;
        if (lon < w || lon > e || lat < s || lat > n) return false;
        return cell.polygons.some(
          (p) => insideRing(lon, lat, p[0]) && !p.slice(1).some((hole) => insideRing(lon, lat, hole)),
        );
      }) ?? null
    );
  }

  showTip(sx, sy, lines) {
    this.tip.replaceChildren(...lines.map((line, i) => h(i === 0 ? "strong" : "div", {}, line)));
    this.tip.hidden = false;
    const { w } = this.size();
    const left = Math.min(sx + 14, w - this.tip.offsetWidth - 6);
    this.tip.style.setProperty("left", `${Math.max(4, left)}px`);
    this.tip.style.setProperty("top", `${sy + 14}px`);
  }

  hover(sx, sy) {
    const camera = this.cameraAt(sx, sy);
    const cell = camera ? null : this.cellAt(sx, sy);
    this.canvas.classList.toggle("pointing", Boolean(camera || cell));
    if ((cell?.id ?? null) !== (this.hoverCell?.id ?? null)) {
      this.hoverCell = cell;
      this.redraw();
    }
    if (camera) {
      const p = camera.properties;
      this.showTip(sx, sy, [p.name, `${statusLabel(p.status)} · ${p.address || p.uid}`, "单击查看详情"]);
    } else if (cell) {
      const c = cell.props.cameras ?? {};
      const counts = ["online", "degraded", "offline", "unknown"]
        .map((s) => `${STATUS_LABEL[s]} ${c[s] ?? 0}`)
        .join(" · ");
      const where = [cell.props.community, cell.props.street].filter(Boolean).join(" · ");
      const hint = cell.id === this.selectedCell ? "单击取消网格筛选" : "单击按此网格筛选";
      this.showTip(sx, sy, [cell.props.name ?? cell.id, where, `共 ${c.total ?? 0} 个：${counts}`, hint]);
    } else {
      this.tip.hidden = true;
    }
    this.onHover(camera);
  }

  bindEvents() {
    const canvas = this.canvas;
    let press = null;
    const local = (event) => {
      const rect = canvas.getBoundingClientRect();
      return [event.clientX - rect.left, event.clientY - rect.top];
    };
    canvas.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      const [x, y] = local(event);
      press = { x, y, lastX: x, lastY: y, dragging: false, id: event.pointerId };
    });
    canvas.addEventListener("pointermove", (event) => {
      const [x, y] = local(event);
      if (press && press.id === event.pointerId) {
        if (!press.dragging && Math.hypot(x - press.x, y - press.y) > 4) {
          press.dragging = true;
          canvas.setPointerCapture(event.pointerId);
          canvas.classList.add("dragging");
          this.tip.hidden = true;
        }
        if (press.dragging) {
          this.pan(x - press.lastX, y - press.lastY);
          press.lastX = x;
          press.lastY = y;
          return;
        }
      }
      this.hover(x, y);
    });
    const release = (event) => {
      if (!press || press.id !== event.pointerId) return;
      const wasDrag = press.dragging;
      press = null;
      canvas.classList.remove("dragging");
      if (wasDrag || event.type !== "pointerup") return;
      const [x, y] = local(event);
      const camera = this.cameraAt(x, y);
      if (camera) this.onCamera(camera.id);
      else {
        const cell = this.cellAt(x, y);
        if (cell) this.onCell(cell.id === this.selectedCell ? "" : cell.id);
      }
    };
    canvas.addEventListener("pointerup", release);
    canvas.addEventListener("pointercancel", release);
    canvas.addEventListener("pointerleave", () => {
      this.tip.hidden = true;
      if (this.hoverCell) {
        this.hoverCell = null;
        this.redraw();
      }
      this.onHover(null);
    });
    canvas.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const [x, y] = local(event);
        this.zoomAt(Math.exp(-event.deltaY * 0.0015), x, y);
      },
      { passive: false },
    );
    canvas.addEventListener("keydown", (event) => {
      const step = 60;
      const moves = {
        ArrowLeft: () => this.pan(step, 0),
        ArrowRight: () => this.pan(-step, 0),
        ArrowUp: () => this.pan(0, step),
        ArrowDown: () => this.pan(0, -step),
        "+": () => this.zoom(1.4),
        "=": () => this.zoom(1.4),
        "-": () => this.zoom(1 / 1.4),
        0: () => this.reset(),
      };
      const move = moves[event.key];
      if (move) {
        event.preventDefault();
        move();
      }
    });
  }

  reset() {
    this.touched = false;
    this.fit();
  }
}

// ---------------------------------------------------------------- console state

const state = {
  departments: new Map(),
  grids: [],
  cameras: [], // every camera that is not retired (the map's base layer)
  matched: null, // the filtered cameras, or null when no filter is set
  applied: {}, // the filters `matched` answers
  filterGeneration: 0,
  filterController: null,
  wall: { cursors: [null], page: 0, next: null, controller: null, tiles: new Map() },
  timers: [],
  hasEvents: false,
  hasCapture: false,
  started: false,
};

const thumbs = new TaskQueue(THUMB_CONCURRENCY);
let map = null;
let thumbObserver = null;

function filterParams() {
  return {
    q: $("q").value.trim(),
    department: $("department").value,
    status: $("status").value,
    grid: $("grid").value,
  };
}

function hasFilter(params) {
  return Object.values(params).some((v) => v !== "");
}

/** Mark a camera on the map (null: none); the open detail's camera stays marked. */
function pointAt(uid) {
  map.setHighlight(uid ?? ($("detail").open ? detail.uid : null));
}

function cameraByUid(uid) {
  return (
    state.matched?.find((f) => f.id === uid) ?? state.cameras.find((f) => f.id === uid) ?? null
  );
}

// ---------------------------------------------------------------- data loading

async function loadStats() {
  const stats = await getJson("/stats");
  const c = stats.cameras;
  const items = [
    h("li", {}, "摄像机 ", h("strong", {}, c.total)),
    ...["online", "degraded", "offline", "unknown"].map((s) =>
      h("li", { class: s }, h("span", { class: "dot" }), STATUS_LABEL[s], " ", h("strong", {}, c[s] ?? 0)),
    ),
    h("li", { class: "muted" }, "近一分钟抓图 ", h("strong", {}, stats.snapshots?.last_minute ?? 0)),
  ];
  $("stats").replaceChildren(...items);
}

async function loadDepartments() {
  const answer = await getJson("/departments");
  state.departments = new Map(answer.items.map((d) => [d.id, d]));
  const select = $("department");
  const current = select.value;
  select.replaceChildren(
    h("option", { value: "" }, "全部部门"),
    ...answer.items.map((d) =>
      h("option", { value: d.id }, `${d.name}（${d.cameras?.total ?? 0}）`),
    ),
  );
  select.value = current;
}

async function loadGrids() {
  const answer = await getJson("/grids");
  state.grids = answer.features;
  map.setCells(state.grids);
  const select = $("grid");
  const labels = JSON.stringify(state.grids.map((f) => [f.id, f.properties.cameras?.total]));
  if (select.dataset.labels === labels) return; // an open dropdown is left alone
  select.dataset.labels = labels;
  const current = select.value;
  const byCommunity = new Map();
  for (const f of state.grids) {
    const key = f.properties.community || "其他";
    if (!byCommunity.has(key)) byCommunity.set(key, []);
    byCommunity.get(key).push(f.properties);
  }
  select.replaceChildren(
    h("option", { value: "" }, "全部网格"),
    ...[...byCommunity].map(([community, cells]) =>
      h(
        "optgroup",
        { label: community },
        cells.map((p) => h("option", { value: p.grid_id }, `${p.name}（${p.cameras?.total ?? 0}）`)),
      ),
    ),
  );
  select.value = current;
}

async function loadCameras() {
  state.cameras = await fetchAllCameras({});
  map.setCameras(state.cameras);
}

async function loadSpec() {
  try {
    const response = await fetch(`${API}/openapi.json`, { cache: "no-cache" });
    const spec = await response.json();
    state.hasEvents = Boolean(spec.paths?.["/api/v1/cameras/{uid}/events"]);
    state.hasCapture = Boolean(spec.paths?.["/api/v1/cameras/{uid}/capture"]);
  } catch {
    state.hasEvents = false; // the history section stays hidden
    state.hasCapture = false; // and so does the capture button
  }
}

async function refreshData() {
  try {
    await Promise.all([loadStats(), loadGrids(), loadCameras()]);
    clearProblem("data");
    $("updated").textContent = `更新于 ${CLOCK.format(new Date())}`;
    await applyFilters({ keepPage: true });
  } catch (error) {
    reportProblem("data", error);
  }
}

// ---------------------------------------------------------------- filters and the list

let searchTimer = 0;

function filtersChanged({ debounce = false } = {}) {
  clearTimeout(searchTimer);
  if (debounce) searchTimer = setTimeout(() => applyFilters(), SEARCH_DEBOUNCE_MS);
  else applyFilters();
}

async function applyFilters({ keepPage = false } = {}) {
  const generation = ++state.filterGeneration;
  state.filterController?.abort();
  const controller = new AbortController();
  state.filterController = controller;
  const params = filterParams();
  state.applied = params;
  map.setSelectedCell(params.grid);
  $("camera-list").setAttribute("aria-busy", "true");
  try {
    const matched = hasFilter(params) ? await fetchAllCameras(params, controller.signal) : null;
    if (generation !== state.filterGeneration) return;
    state.matched = matched;
    map.setMatched(matched);
    renderList({ fresh: !keepPage });
    clearProblem("filter");
    $("camera-list").setAttribute("aria-busy", "false");
    if (!keepPage) state.wall.cursors = [null];
    if (!keepPage) state.wall.page = 0;
    await loadWall();
  } catch (error) {
    if (generation === state.filterGeneration) {
      $("camera-list").setAttribute("aria-busy", "false");
      reportProblem("filter", error);
    }
  }
}

let listShape = "";

/** The list of matching cameras; `fresh` (a new filter) scrolls it back to the top. */
function renderList({ fresh = false } = {}) {
  const features = state.matched ?? state.cameras;
  const list = $("camera-list");
  const total = features.length;
  $("result-count").textContent = state.matched
    ? `筛选结果：${total} 个摄像机`
    : `全部摄像机：${total} 个`;
  const shown = features.slice(0, LIST_MAX);
  const shape = JSON.stringify([total, shown.map((f) => [f.id, f.properties.status, f.properties.name])]);
  if (shape === listShape && list.children.length > 0) return; // keeps focus and scroll
  listShape = shape;
  const focused = list.contains(document.activeElement)
    ? document.activeElement.closest("li")?.dataset.uid
    : null;
  const scroll = fresh ? 0 : list.scrollTop;
  const items = shown.map((f) => {
    const p = f.properties;
    return h(
      "li",
      { dataset: { uid: f.id } },
      h(
        "button",
        {
          type: "button",
          class: p.status,
          title: p.address ?? "",
          onclick: () => openDetail(f.id),
          onmouseenter: () => pointAt(f.id),
          onmouseleave: () => pointAt(null),
          onfocus: () => pointAt(f.id),
          onblur: () => pointAt(null),
        },
        h("span", { class: "dot", title: statusLabel(p.status) }),
        h("span", { class: "name" }, p.name),
        h("span", { class: "where" }, p.community ?? ""),
        h("span", { class: "visually-hidden" }, `（${statusLabel(p.status)}）`),
      ),
    );
  });
  if (total === 0) items.push(h("li", { class: "more" }, "没有符合条件的摄像机"));
  if (total > LIST_MAX) {
    items.push(h("li", { class: "more" }, `还有 ${total - LIST_MAX} 个，请输入关键词或筛选缩小范围`));
  }
  list.replaceChildren(...items);
  list.scrollTop = scroll;
  if (focused) list.querySelector(`li[data-uid="${CSS.escape(focused)}"] button`)?.focus();
}

// ---------------------------------------------------------------- the wall

function wallTile(item) {
  const img = h("img", { alt: "", decoding: "async" });
  img.hidden = true;
  const placeholder = h("span", { class: "placeholder" }, item.thumb_url ? "加载中…" : "暂无图像");
  const name = h("span", { class: "name" });
  const time = h("time");
  const status = h("span", { class: "badge" });
  const button = h(
    "button",
    {
      type: "button",
      class: "tile",
      onclick: () => openDetail(tile.uid),
      onmouseenter: () => pointAt(tile.uid),
      onmouseleave: () => pointAt(null),
      onfocus: () => pointAt(tile.uid),
      onblur: () => pointAt(null),
    },
    h("span", { class: "thumb" }, placeholder, img),
    h("span", { class: "caption" }, name, h("span", { class: "line" }, time, status)),
  );
  const li = h("li", { dataset: { uid: item.camera_uid } }, button);
  const tile = {
    uid: item.camera_uid,
    li, button, img, placeholder, name, time, status,
    item: null,
    shownId: null,
    url: null,
    visible: false,
    loading: false,
  };
  li.tile = tile;
  updateTile(tile, item);
  return tile;
}

function updateTile(tile, item) {
  tile.item = item;
  tile.name.textContent = item.name;
  tile.name.title = item.name;
  tile.time.textContent = shortTime(item.captured_at);
  tile.time.dateTime = item.captured_at ?? "";
  tile.status.className = `badge ${item.status}`;
  tile.status.textContent = statusLabel(item.status);
  tile.button.className = `tile ${item.status}`;
  tile.button.setAttribute(
    "aria-label",
    `${item.name}，${statusLabel(item.status)}，${item.captured_at ? fullTime(item.captured_at) : "暂无图像"}，查看详情`,
  );
  tile.li.dataset.status = item.status;
  if (!item.thumb_url) {
    tile.placeholder.textContent = "暂无图像";
    tile.placeholder.hidden = false;
    tile.img.hidden = true;
  } else if (tile.shownId === null) {
    tile.placeholder.textContent = "加载中…";
  }
  if (tile.visible) loadThumb(tile);
}

function dropTile(tile) {
  thumbObserver.unobserve(tile.li);
  if (tile.url) URL.revokeObjectURL(tile.url);
  tile.url = null;
}

async function loadThumb(tile) {
  const item = tile.item;
  if (!item.thumb_url || tile.loading || tile.shownId === item.snapshot_id) return;
  tile.loading = true;
  const signal = state.wall.controller?.signal;
  let failed = false;
  try {
    const url = await thumbs.run(() => {
      if (signal?.aborted || !tile.li.isConnected) return null;
      return fetchImageUrl(item.thumb_url, signal);
    });
    if (url && !tile.li.isConnected) URL.revokeObjectURL(url);
    else if (url) {
      const old = tile.url;
      tile.url = url;
      tile.shownId = item.snapshot_id;
      tile.img.alt = `${item.name} ${fullTime(item.captured_at)}`;
      tile.img.src = url;
      tile.img.hidden = false;
      tile.placeholder.hidden = true;
      if (old) URL.revokeObjectURL(old);
      clearProblem("thumbs");
    }
  } catch (error) {
    if (!isAbort(error)) {
      failed = true; // tried again at the next refresh, not in a loop
      tile.placeholder.textContent = error instanceof ApiError ? "图像加载失败" : "网络错误";
      tile.placeholder.hidden = false;
      reportProblem("thumbs", error);
    }
  } finally {
    tile.loading = false;
  }
  // A newer snapshot may have arrived, or the page turned and aborted this load.
  const stale = tile.shownId !== tile.item.snapshot_id;
  if (!failed && stale && tile.visible && tile.li.isConnected) loadThumb(tile);
}

async function loadWall() {
  const wall = state.wall;
  const cursor = wall.cursors[wall.page];
  const list = $("wall");
  // The filters last applied, not the ones being typed: the wall matches the list.
  const params = { ...state.applied, limit: WALL_PAGE_SIZE, cursor };
  const generation = state.filterGeneration;
  list.setAttribute("aria-busy", "true");
  let answer;
  try {
    answer = await getJson("/wall", { params, signal: state.filterController?.signal });
  } catch (error) {
    if (!isAbort(error)) {
      list.setAttribute("aria-busy", "false");
      reportProblem("wall", error);
    }
    return;
  }
  if (generation !== state.filterGeneration) return;
  clearProblem("wall");
  if (answer.items.length === 0 && wall.page > 0) {
    // The page emptied under a refresh (fewer cameras match now): back to the first.
    wall.page = 0;
    wall.cursors = [null];
    await loadWall();
    return;
  }
  wall.next = answer.next_cursor;
  const pageKey = JSON.stringify([params, wall.page]);
  if (wall.pageKey !== pageKey) {
    wall.controller?.abort();
    wall.controller = new AbortController();
    wall.pageKey = pageKey;
    list.scrollTop = 0;
  }
  const keep = new Map();
  for (const item of answer.items) {
    const old = wall.tiles.get(item.camera_uid);
    if (old) {
      updateTile(old, item);
      keep.set(item.camera_uid, old);
    } else {
      const tile = wallTile(item);
      keep.set(item.camera_uid, tile);
      thumbObserver.observe(tile.li);
    }
  }
  for (const [uid, tile] of wall.tiles) if (!keep.has(uid)) dropTile(tile);
  wall.tiles = keep;
  const children = [...keep.values()].map((t) => t.li);
  if (children.length === 0) {
    children.push(h("li", { class: "empty" }, "没有符合条件的摄像机"));
  }
  // Re-inserting the same tiles would drop the keyboard focus; only reorder on change.
  const current = [...list.children];
  if (current.length !== children.length || current.some((el, i) => el !== children[i])) {
    list.replaceChildren(...children);
  }
  list.setAttribute("aria-busy", "false");
  renderPager();
}

function renderPager() {
  const wall = state.wall;
  const total = (state.matched ?? state.cameras).length;
  const pages = Math.max(1, Math.ceil(total / WALL_PAGE_SIZE));
  $("wall-page").textContent = `第 ${wall.page + 1} / ${pages} 页 · ${total} 个`;
  $("wall-prev").disabled = wall.page === 0;
  $("wall-next").disabled = !wall.next;
  $("wall-title").textContent = state.matched ? "最新画面（筛选结果）" : "最新画面";
}

function turnPage(delta) {
  const wall = state.wall;
  if (delta > 0 && wall.next) {
    wall.cursors[wall.page + 1] = wall.next;
    wall.page += 1;
  } else if (delta < 0 && wall.page > 0) {
    wall.page -= 1;
  } else {
    return;
  }
  loadWall();
}

// ---------------------------------------------------------------- the detail view

const detail = {
  uid: null,
  camera: null,
  snapshots: [],
  next: null,
  index: 0,
  url: null,
  controller: null,
  imageController: null,
  loadingMore: false,
  locating: false,
};

function metaRow(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

function renderMeta(camera) {
  const department = state.departments.get(camera.department);
  const cell = camera.cell;
  const loc = camera.location;
  const gb = camera.gb28181;
  const rows = [
    metaRow("编号", camera.uid),
    metaRow("部门", department?.name ?? camera.department),
    metaRow("地址", camera.address || "—"),
    metaRow("网格", cell ? `${cell.name}（${cell.grid_id}）` : camera.grid_id ?? "—"),
    metaRow("社区", cell?.community ?? camera.community ?? "—"),
    metaRow("街道", cell?.street ?? "—"),
    metaRow("坐标", loc ? `${loc.lon.toFixed(6)}, ${loc.lat.toFixed(6)}（WGS-84）` : "无位置"),
    metaRow("接入", camera.kind ?? "—"),
    metaRow("标签", (camera.tags ?? []).join("、") || "—"),
    metaRow(
      "状态",
      badge(camera.status),
      camera.status_reason
        ? h("span", { title: camera.status_reason }, `：${reasonLabel(camera.status_reason)}`)
        : "",
      h("div", { class: "muted" }, `自 ${fullTime(camera.status_since)}`),
    ),
    metaRow("最近抓图", fullTime(camera.last_snapshot_at)),
  ];
  if (gb) {
    rows.push(
      metaRow("国标编码", gb.id ?? camera.id),
      metaRow("行政区划", `${gb.division_name ?? ""}（${gb.division ?? ""}）`),
      metaRow("行业", gb.industry_name ?? gb.industry ?? "—"),
      metaRow("设备类型", gb.type_name ?? gb.type_code ?? "—"),
      metaRow("网络", gb.network_name ?? gb.network ?? "—"),
    );
  }
  $("detail-meta").replaceChildren(...rows.flat());
  $("detail-locate").disabled = !loc;
  $("detail-title").textContent = camera.name;
  const status = $("detail-status");
  status.className = `badge ${camera.status}`;
  status.textContent = statusLabel(camera.status);
}

function locateOnMap(uid) {
  const feature = cameraByUid(uid);
  detail.locating = true;
  $("detail").close();
  map.focusOn(feature);
  $("map").focus();
}

async function openDetail(uid) {
  const dialog = $("detail");
  closeDetailResources();
  detail.uid = uid;
  detail.camera = null;
  detail.snapshots = [];
  detail.next = null;
  detail.index = 0;
  detail.controller = new AbortController();
  const known = cameraByUid(uid);
  $("detail-title").textContent = known?.properties.name ?? uid;
  $("detail-status").textContent = "";
  $("detail-meta").replaceChildren();
  $("detail-locate").disabled = true;
  $("capture").hidden = !state.hasCapture;
  $("capture").disabled = false;
  $("capture-note").textContent = "";
  $("history").hidden = true;
  $("detail-image").hidden = true;
  $("detail-image").removeAttribute("src");
  $("detail-noimage").hidden = true;
  $("detail-caption").textContent = "加载中…";
  renderTimeline();
  if (!dialog.open) dialog.showModal();
  map.setHighlight(uid);
  const signal = detail.controller.signal;
  const path = `/cameras/${encodeURIComponent(uid)}`;
  try {
    const [camera, page] = await Promise.all([
      getJson(path, { signal }),
      getJson(`${path}/snapshots`, { signal, params: { limit: SNAPSHOT_PAGE } }),
    ]);
    if (detail.uid !== uid) return;
    detail.camera = camera;
    renderMeta(camera);
    detail.snapshots = page.items;
    detail.next = page.next_cursor;
    if (detail.snapshots.length === 0 && camera.last_snapshot) detail.snapshots = [camera.last_snapshot];
    showSnapshot(0);
    clearProblem("detail");
  } catch (error) {
    if (!isAbort(error)) {
      $("detail-caption").textContent = error.message;
      reportProblem("detail", error);
    }
    return;
  }
  loadHistory(uid, signal);
}

async function loadHistory(uid, signal) {
  const section = $("history");
  if (!state.hasEvents) return;
  try {
    const answer = await getJson(`/cameras/${encodeURIComponent(uid)}/events`, {
      signal,
      params: { limit: 50 },
    });
    if (detail.uid !== uid) return;
    const events = answer.items ?? [];
    $("history-list").replaceChildren(
      ...(events.length
        ? events.map((e) =>
            h(
              "li",
              {},
              badge(e.status),
              h("span", { title: e.reason || "" }, reasonLabel(e.reason)),
              h("time", { datetime: e.at ?? e.since ?? "" }, fullTime(e.at ?? e.since)),
            ),
          )
        : [h("li", { class: "muted" }, "暂无状态变化记录")]),
    );
    section.hidden = false;
  } catch (error) {
    section.hidden = true;
    if (!(error instanceof ApiError && error.status === 404)) reportProblem("detail", error);
  }
}

function renderTimeline() {
  const n = detail.snapshots.length;
  const range = $("snap-range");
  range.max = String(Math.max(0, n - 1));
  range.value = String(Math.max(0, n - 1 - detail.index));
  range.disabled = n < 2;
  $("snap-prev").disabled = detail.index >= n - 1 && !detail.next;
  $("snap-next").disabled = detail.index <= 0;
  const more = detail.next ? "+" : "";
  $("snap-pos").textContent = n ? `第 ${n - detail.index} / ${n}${more} 张（最新在右）` : "暂无抓图";
}

function showSnapshot(index) {
  const n = detail.snapshots.length;
  detail.index = Math.min(Math.max(index, 0), Math.max(0, n - 1));
  renderTimeline();
  const snapshot = detail.snapshots[detail.index];
  const time = $("snap-time");
  const flags = $("snap-flags");
  const img = $("detail-image");
  if (!snapshot) {
    time.textContent = "";
    time.dateTime = "";
    flags.replaceChildren();
    img.hidden = true;
    $("detail-noimage").hidden = false;
    $("detail-caption").textContent = "";
    return;
  }
  const name = detail.camera?.name ?? detail.uid;
  time.textContent = fullTime(snapshot.captured_at);
  time.dateTime = snapshot.captured_at;
  const flagList = snapshot.quality?.flags ?? [];
  flags.replaceChildren(
    ...(flagList.length
      ? flagList.map((f) => h("span", { class: "flag", title: f }, FLAG_LABEL[f] ?? f))
      : [h("span", { class: "muted" }, "画质正常")]),
  );
  $("detail-caption").textContent = `${fullTime(snapshot.captured_at)} · ${snapshot.width}×${snapshot.height}`;
  detail.imageController?.abort();
  const controller = new AbortController();
  detail.imageController = controller;
  fetchImageUrl(snapshot.image_url, controller.signal)
    .then((url) => {
      if (controller.signal.aborted) {
        URL.revokeObjectURL(url);
        return;
      }
      const old = detail.url;
      detail.url = url;
      img.alt = `${name} ${fullTime(snapshot.captured_at)}`;
      img.src = url;
      img.dataset.snapshotId = String(snapshot.id);
      img.hidden = false;
      $("detail-noimage").hidden = true;
      if (old) URL.revokeObjectURL(old);
    })
    .catch((error) => {
      if (isAbort(error)) return;
      $("detail-caption").textContent = error.message;
      reportProblem("detail", error);
    });
}

async function stepSnapshot(delta) {
  // delta > 0: older; delta < 0: newer
  const target = detail.index + delta;
  if (target >= detail.snapshots.length && detail.next && !detail.loadingMore) {
    detail.loadingMore = true;
    const uid = detail.uid;
    try {
      const page = await getJson(`/cameras/${encodeURIComponent(uid)}/snapshots`, {
        signal: detail.controller?.signal,
        params: { limit: SNAPSHOT_PAGE, cursor: detail.next },
      });
      if (detail.uid !== uid) return;
      detail.snapshots.push(...page.items);
      detail.next = page.next_cursor;
    } catch (error) {
      reportProblem("detail", error);
    } finally {
      detail.loadingMore = false;
    }
  }
  showSnapshot(target);
}

/** The open camera's metadata again (status, last picture), and its history. */
async function refreshMeta(uid) {
  const signal = detail.controller?.signal;
  const camera = await getJson(`/cameras/${encodeURIComponent(uid)}`, { signal });
  if (detail.uid !== uid) return;
  detail.camera = camera;
  renderMeta(camera);
  loadHistory(uid, signal);
}

/** New snapshots of the open camera; stay on the newest if it was shown. */
async function refreshDetail() {
  const newest = detail.snapshots[0];
  if (!$("detail").open || !detail.uid || !newest) return;
  const uid = detail.uid;
  try {
    const [page] = await Promise.all([
      getJson(`/cameras/${encodeURIComponent(uid)}/snapshots`, {
        signal: detail.controller?.signal,
        params: { since: newest.captured_at, limit: SNAPSHOT_PAGE },
      }),
      refreshMeta(uid),
    ]);
    if (detail.uid !== uid) return;
    const known = new Set(detail.snapshots.map((s) => s.id));
    const fresh = page.items.filter((s) => !known.has(s.id));
    if (fresh.length === 0) return;
    detail.snapshots.unshift(...fresh);
    if (detail.index === 0) showSnapshot(0);
    else {
      detail.index += fresh.length;
      renderTimeline();
    }
  } catch (error) {
    reportProblem("detail", error);
  }
}

/** Ask the camera for a picture now; show it when it comes within the wait. */
async function captureNow() {
  const uid = detail.uid;
  const button = $("capture");
  const note = $("capture-note");
  button.disabled = true;
  note.textContent = "正在抓图…";
  try {
    const response = await request(`/cameras/${encodeURIComponent(uid)}/capture`, {
      method: "POST",
      params: { wait: 10 },
      signal: detail.controller?.signal,
    });
    const answer = await response.json();
    if (detail.uid !== uid) return;
    if (response.status === 201) {
      if (!detail.snapshots.some((s) => s.id === answer.id)) detail.snapshots.unshift(answer);
      showSnapshot(0);
      note.textContent = "已抓取最新画面";
      refreshMeta(uid).catch((error) => reportProblem("detail", error));
    } else if (answer.state === "failed") {
      note.textContent = `抓图失败：${reasonLabel(answer.error) || "原因不明"}`;
    } else {
      note.textContent = "已请求抓图，画面到达后自动显示";
    }
  } catch (error) {
    if (isAbort(error) || detail.uid !== uid) return;
    note.textContent =
      error instanceof ApiError && error.status === 403 ? "无权对此摄像机抓图" : error.message;
  } finally {
    if (detail.uid === uid) button.disabled = false;
  }
}

function closeDetailResources() {
  detail.controller?.abort();
  detail.imageController?.abort();
  $("detail-image").removeAttribute("src");
  if (detail.url) URL.revokeObjectURL(detail.url);
  detail.url = null;
  detail.uid = null;
}

// ---------------------------------------------------------------- sign-in and start

function readHashToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  return token;
}

function showSignin(message = "") {
  $("app").hidden = true;
  $("signin").hidden = false;
  const error = $("signin-error");
  error.textContent = message;
  error.hidden = !message;
  $("signin-token").value = "";
  $("signin-token").focus();
}

function stop() {
  for (const timer of state.timers) clearInterval(timer);
  state.timers = [];
  state.filterController?.abort();
  state.wall.controller?.abort();
  for (const tile of state.wall.tiles.values()) dropTile(tile);
  state.wall.tiles = new Map();
  $("wall").replaceChildren();
  closeDetailResources();
  if ($("detail").open) $("detail").close();
  problems.clear();
  renderBanner();
  state.started = false;
}

function signOut(message = "") {
  stop();
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  showSignin(message);
}

session.onUnauthorized = () => {
  if (session.token) signOut("令牌无效、已过期或已被吊销，请重新登录");
};

async function start(token) {
  session.token = token;
  try {
    await loadStats();
  } catch (error) {
    if (error instanceof Unauthorized) return; // signOut has shown the sign-in
    showSignin(error.message);
    return;
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  state.started = true;
  map.resize();
  try {
    await Promise.all([loadDepartments(), loadGrids(), loadCameras(), loadSpec()]);
    $("updated").textContent = `更新于 ${CLOCK.format(new Date())}`;
    clearProblem("data");
  } catch (error) {
    reportProblem("data", error);
  }
  if (!state.started) return;
  await applyFilters();
  state.timers.push(
    setInterval(() => {
      if (document.hidden) return;
      loadWall();
      refreshDetail();
    }, WALL_REFRESH_MS),
    setInterval(() => {
      if (!document.hidden) refreshData();
    }, DATA_REFRESH_MS),
  );
}

function bindUi() {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("signin-token").value.trim();
    if (!token) {
      showSignin("请输入访问令牌");
      return;
    }
    try {
      await request("/stats", { token });
    } catch (error) {
      showSignin(error.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    start(token);
  });
  $("signout").addEventListener("click", () => signOut("已退出登录"));
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    filtersChanged();
  });
  $("q").addEventListener("input", () => filtersChanged({ debounce: true }));
  for (const id of ["department", "status", "grid"]) {
    $(id).addEventListener("change", () => filtersChanged());
  }
  $("clear").addEventListener("click", () => {
    $("filters").reset();
    filtersChanged();
  });
  $("wall-prev").addEventListener("click", () => turnPage(-1));
  $("wall-next").addEventListener("click", () => turnPage(1));
  $("zoom-in").addEventListener("click", () => map.zoom(1.4));
  $("zoom-out").addEventListener("click", () => map.zoom(1 / 1.4));
  $("zoom-fit").addEventListener("click", () => map.reset());
  $("detail-close").addEventListener("click", () => $("detail").close());
  $("detail-locate").addEventListener("click", () => {
    if (detail.camera) locateOnMap(detail.camera.uid);
  });
  $("detail").addEventListener("close", () => {
    closeDetailResources();
    if (!detail.locating) map.setHighlight(null);
    detail.locating = false;
  });
  $("capture").addEventListener("click", () => captureNow());
  $("snap-prev").addEventListener("click", () => stepSnapshot(1));
  $("snap-next").addEventListener("click", () => stepSnapshot(-1));
  $("snap-range").addEventListener("input", (event) => {
    const n = detail.snapshots.length;
    showSnapshot(n - 1 - Number(event.target.value));
  });
  document.addEventListener("keydown", (event) => {
    // On the document: a step can disable the focused button and drop focus to <body>.
    if (!$("detail").open || event.target.id === "snap-range") return; // the slider steps itself
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "ArrowLeft") {
      event.preventDefault();
      stepSnapshot(1);
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      stepSnapshot(-1);
    }
  });
  thumbObserver = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        const tile = entry.target.tile;
        if (!tile) continue;
        tile.visible = entry.isIntersecting;
        if (tile.visible) loadThumb(tile);
      }
    },
    { root: $("wall"), rootMargin: "200px 0px" },
  );
  map = new DistrictMap($("map"), {
    onCell: (id) => {
      $("grid").value = id;
      filtersChanged();
    },
    onCamera: (uid) => openDetail(uid),
    onHover: () => {},
  });
  // For tests and debugging: where a lon/lat is drawn, in viewport pixels.
  window.camgridConsole = {
    project(lon, lat) {
      const rect = $("map").getBoundingClientRect();
      const [x, y] = map.screen(lon, lat);
      return { x: rect.left + x, y: rect.top + y };
    },
  };
}

function boot() {
  bindUi();
  const fromHash = readHashToken();
  if (fromHash) sessionStorage.setItem(TOKEN_KEY, fromHash);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) start(token);
  else showSignin();
}

boot();
