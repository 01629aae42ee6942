// sonolink patient page: full-screen viewer with next/previous (buttons,
// arrow keys, swipe), zoom (buttons, +/-, double-tap, pinch) and cine
// playback at the object's own frame time: the loop's MP4 where the
// browser plays H.264, else its frames. "Save" hands the file to the
// phone's share sheet where it takes files (so a picture lands in Photos),
// else downloads it. Without this script every tile
// is a plain link to its image, so the page still works.
(function () {
  'use strict';
  var dlg = document.getElementById('viewer');
  if (!dlg || typeof dlg.showModal !== 'function') return;
  var tiles = [].slice.call(document.querySelectorAll('a.tile')).filter(function (t) {
    return t.dataset.kind !== 'pdf' && t.dataset.kind !== 'report';
  });
  var $ = function (s) { return dlg.querySelector(s); };
  var img = $('.vimg'), vid = $('.vvid'), stage = $('.stage'), label = $('.vlabel'), count = $('.vcount');
  var cine = $('.cine'), playBtn = $('[data-act=play]'), scrub = $('.scrub'), fnum = $('.fnum');
  var dl = $('[data-act=download]'), shareBtn = $('[data-act=share]'), prevBtn = $('[data-act=prev]'), nextBtn = $('[data-act=next]');
  var L = dlg.dataset;
  var reduce = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

  // A loop's frames are requested a window at a time, from the one shown
  // on (a long cine has hundreds), not all at once.
  var AHEAD = 12;
  var cur = -1, frames = [], cache = {}, fi = 0, ms = 40, nframes = 0, video = false;

  // H.264 in MP4, as the loops are encoded; '' where the browser has no
  // decoder for it (then the frames play).
  var canVideo = !!(vid.canPlayType && vid.canPlayType('video/mp4; codecs="avc1.42E01E"'));
  // The share sheet takes files here (phones): Save shares, so a picture
  // lands in Photos; elsewhere Save is the download link.
  var canShareFiles = (function () {
    try {
      return !!(navigator.canShare && navigator.share &&
        navigator.canShare({ files: [new File([''], 'x.jpg', { type: 'image/jpeg' })] }));
    } catch (e) { return false; }
  })();
  shareBtn.hidden = !canShareFiles;
  dl.hidden = canShareFiles;
  var playing = false, raf = 0, last = 0, acc = 0;
  var zoom = 1, tx = 0, ty = 0;

  function fmt(s, o) {
    return String(s).replace(/\{(\w+)\}/g, function (m, k) { return k in o ? o[k] : m; });
  }

  function open(i) {
    if (i < 0 || i >= tiles.length) return;
    stop();
    cur = i;
    var d = tiles[i].dataset;
    resetZoom();
    label.textContent = d.label;
    count.textContent = fmt(L.lOf, { i: i + 1, n: tiles.length });
    dl.href = d.download;
    img.alt = d.label;
    prevBtn.disabled = i === 0;
    nextBtn.disabled = i === tiles.length - 1;
    unloadVideo();
    frames = [];
    cache = {};
    if (d.kind === 'cine') {
      nframes = Math.max(1, parseInt(d.count, 10) || 1);
      ms = parseFloat(d.ms) || 40;
      cine.hidden = false;
      scrub.max = nframes;
      if (d.video && canVideo) {
        loadVideo(d.video);
      } else {
        loadFrames(d.frames);
      }
    } else {
      cine.hidden = true;
      img.hidden = false;
      img.src = d.full;
    }
    if (!dlg.open) dlg.showModal();
  }

  function loadFrames(prefix) {
    video = false;
    img.hidden = false;
    frames = [];
    for (var k = 1; k <= nframes; k++) frames.push(prefix + frameName(k));
    show(0);
    if (!reduce) play(); else sync();
  }

  // The MP4 plays the loop in the browser's own decoder, at the object's
  // frame rate; the scrubber still counts frames.
  function loadVideo(src) {
    video = true;
    img.hidden = true;
    img.removeAttribute('src');
    vid.hidden = false;
    vid.src = src;
    showTime();
    if (!reduce) play(); else sync();
  }

  function unloadVideo() {
    if (!video && vid.hidden) return;
    video = false;
    vid.pause();
    vid.hidden = true;
    vid.removeAttribute('src');
    vid.load();
  }

  vid.addEventListener('timeupdate', showTime);
  vid.addEventListener('seeked', showTime);
  // A video the browser cannot play after all: the frames instead.
  vid.addEventListener('error', function () {
    if (!video || !tiles[cur]) return;
    unloadVideo();
    loadFrames(tiles[cur].dataset.frames);
  });

  function showTime() {
    var k = Math.min(nframes - 1, Math.floor(vid.currentTime * 1000 / ms + 0.01));
    fi = k;
    scrub.value = k + 1;
    fnum.textContent = (k + 1) + ' / ' + nframes;
    scrub.setAttribute('aria-valuetext', fmt(L.lFrame, { i: k + 1, n: nframes }));
  }

  function seek(k) {
    fi = k;
    vid.currentTime = (k + 0.5) * ms / 1000;
    showTime();
  }

  // frameName is the file of frame k (from 1): at least four digits, more
  // when the loop has more frames (never cut to four).
  function frameName(k) {
    var s = String(k);
    while (s.length < 4) s = '0' + s;
    return s + '.jpg';
  }

  // preload keeps the frames from k to AHEAD after it loading or loaded,
  // and lets go of the others.
  function preload(k) {
    var keep = {}, n = frames.length;
    for (var j = 0; j <= AHEAD && j < n; j++) {
      var x = (k + j) % n;
      if (!cache[x]) {
        cache[x] = new Image();
        cache[x].decoding = 'async';
        cache[x].src = frames[x];
      }
      keep[x] = cache[x];
    }
    cache = keep;
  }

  function show(k) {
    fi = k;
    preload(k);
    img.src = frames[k];
    scrub.value = k + 1;
    fnum.textContent = (k + 1) + ' / ' + frames.length;
    scrub.setAttribute('aria-valuetext', fmt(L.lFrame, { i: k + 1, n: frames.length }));
  }

  function tick(ts) {
    if (!playing) return;
    if (!last) last = ts;
    acc += ts - last;
    last = ts;
    if (acc >= ms) {
      var steps = Math.floor(acc / ms);
      acc -= steps * ms;
      // Never skip past the window being loaded.
      var nx = (fi + Math.min(steps, AHEAD)) % frames.length;
      // Wait for a frame still loading rather than show a blank.
      if (cache[nx] && cache[nx].complete) show(nx); else acc = 0;
    }
    raf = requestAnimationFrame(tick);
  }

  function play() {
    if (video) {
      playing = true;
      var p = vid.play();
      if (p && p.catch) p.catch(function () { playing = false; sync(); });
      sync();
      return;
    }
    if (frames.length < 2) return;
    playing = true;
    last = 0;
    acc = 0;
    raf = requestAnimationFrame(tick);
    sync();
  }

  function stop() {
    playing = false;
    if (video) vid.pause();
    if (raf) cancelAnimationFrame(raf);
    raf = 0;
    sync();
  }

  function sync() {
    cine.classList.toggle('playing', playing);
    playBtn.setAttribute('aria-label', playing ? L.lPause : L.lPlay);
  }

  function step(d) {
    if (video) {
      stop();
      seek((fi + d + nframes) % nframes);
      return;
    }
    if (frames.length) {
      stop();
      show((fi + d + frames.length) % frames.length);
    }
  }

  // ---- zoom and pan ----
  function apply() {
    img.style.transform = vid.style.transform = zoom === 1 ? '' : 'translate(' + tx + 'px,' + ty + 'px) scale(' + zoom + ')';
  }
  function resetZoom() { zoom = 1; tx = 0; ty = 0; apply(); }
  function setZoom(z, cx, cy) {
    z = Math.min(6, Math.max(1, z));
    if (cx !== undefined) {
      // Keep the point under (cx, cy) where it is.
      var r = stage.getBoundingClientRect();
      var px = cx - r.left - r.width / 2, py = cy - r.top - r.height / 2;
      tx = px - (px - tx) * z / zoom;
      ty = py - (py - ty) * z / zoom;
    }
    zoom = z;
    if (zoom === 1) { tx = 0; ty = 0; }
    apply();
  }

  var pts = new Map(), start = null, pinch = null, lastTap = 0, lastTapX = 0, lastTapY = 0;
  stage.addEventListener('pointerdown', function (e) {
    stage.setPointerCapture(e.pointerId);
    pts.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pts.size === 1) start = { x: e.clientX, y: e.clientY, tx: tx, ty: ty, t: Date.now() };
    if (pts.size === 2) {
      var a = [].slice.call(pts.values());
      pinch = { d: Math.hypot(a[0].x - a[1].x, a[0].y - a[1].y) || 1, z: zoom,
        cx: (a[0].x + a[1].x) / 2, cy: (a[0].y + a[1].y) / 2 };
    }
  });
  stage.addEventListener('pointermove', function (e) {
    if (!pts.has(e.pointerId)) return;
    pts.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pinch && pts.size === 2) {
      var a = [].slice.call(pts.values());
      setZoom(pinch.z * Math.hypot(a[0].x - a[1].x, a[0].y - a[1].y) / pinch.d, pinch.cx, pinch.cy);
    } else if (start && zoom > 1) {
      tx = start.tx + e.clientX - start.x;
      ty = start.ty + e.clientY - start.y;
      apply();
    }
  });
  function up(e) {
    if (!pts.has(e.pointerId)) return;
    pts.delete(e.pointerId);
    if (pinch) { if (pts.size < 2) pinch = null; start = null; return; }
    if (!start) return;
    var dx = e.clientX - start.x, dy = e.clientY - start.y;
    if (zoom === 1 && Math.abs(dx) > 50 && Math.abs(dx) > 1.5 * Math.abs(dy)) {
      open(cur + (dx < 0 ? 1 : -1));
    } else if (Math.abs(dx) < 10 && Math.abs(dy) < 10 && e.pointerType !== 'mouse') {
      var now = Date.now();
      if (now - lastTap < 320 && Math.hypot(e.clientX - lastTapX, e.clientY - lastTapY) < 30) {
        setZoom(zoom > 1 ? 1 : 2.5, e.clientX, e.clientY);
        lastTap = 0;
      } else {
        lastTap = now; lastTapX = e.clientX; lastTapY = e.clientY;
      }
    }
    start = null;
  }
  stage.addEventListener('pointerup', up);
  stage.addEventListener('pointercancel', up);
  stage.addEventListener('dblclick', function (e) { setZoom(zoom > 1 ? 1 : 2.5, e.clientX, e.clientY); });
  stage.addEventListener('wheel', function (e) {
    e.preventDefault();
    setZoom(zoom * (e.deltaY < 0 ? 1.2 : 1 / 1.2), e.clientX, e.clientY);
  }, { passive: false });

  // ---- controls ----
  dlg.addEventListener('click', function (e) {
    var b = e.target.closest('[data-act]');
    if (!b) return;
    switch (b.dataset.act) {
      case 'close': dlg.close(); break;
      case 'prev': open(cur - 1); break;
      case 'next': open(cur + 1); break;
      case 'zoomin': setZoom(zoom * 1.5); break;
      case 'zoomout': setZoom(zoom / 1.5); break;
      case 'play': if (playing) stop(); else play(); break;
      case 'share': save(); break;
      default: return; // download: let the link work
    }
  });
  scrub.addEventListener('input', function () {
    stop();
    if (video) seek(parseInt(scrub.value, 10) - 1);
    else show(parseInt(scrub.value, 10) - 1);
  });
  dlg.addEventListener('keydown', function (e) {
    if (e.target === scrub && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) return;
    switch (e.key) {
      case 'ArrowLeft': open(cur - 1); break;
      case 'ArrowRight': open(cur + 1); break;
      case '+': case '=': setZoom(zoom * 1.5); break;
      case '-': setZoom(zoom / 1.5); break;
      case ' ': case 'k':
        if ((frames.length || video) && e.target.tagName !== 'BUTTON' && e.target.tagName !== 'A') {
          if (playing) stop(); else play();
        } else return;
        break;
      case ',': step(-1); break;
      case '.': step(1); break;
      default: return;
    }
    e.preventDefault();
  });
  dlg.addEventListener('close', function () {
    stop();
    unloadVideo();
    frames = [];
    cache = {};
    img.removeAttribute('src');
    if (tiles[cur]) tiles[cur].focus();
  });

  // save shares the shown item's file (the same bytes as its download,
  // under the same name); if that cannot be done, it downloads it.
  function save() {
    var d = tiles[cur] && tiles[cur].dataset;
    if (!d) return;
    shareBtn.disabled = true;
    fetch(d.download, { credentials: 'same-origin' }).then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      var m = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
      return res.blob().then(function (b) {
        return new File([b], m ? m[1] : 'ultrasound', { type: b.type });
      });
    }).then(function (f) {
      if (!navigator.canShare({ files: [f] })) throw new Error('not shareable');
      return navigator.share({ files: [f], title: d.label });
    }).catch(function (e) {
      if (e && e.name === 'AbortError') return; // the patient closed the sheet
      dl.click();
    }).then(function () { shareBtn.disabled = false; });
  }

  tiles.forEach(function (t, i) {
    t.addEventListener('click', function (e) {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      open(i);
    });
  });
})();
