// The cachefront dashboard: reads server-sent snapshots from ./api/events (with the admin token
// in Authorization, so through fetch rather than EventSource), draws them, and purges through
// ./api/purge. Plain browser JavaScript: no build step. Charts by uPlot (served alongside).
'use strict'
;(function () {
  const TOKEN_KEY = 'cachefront.dashboard.token'
  const $ = sel => document.querySelector(sel)
  const stat = name => document.querySelectorAll(`[data-stat="${name}"]`)
  const numberFormat = new Intl.NumberFormat('en-US')

  let token = takeTokenFromHash() ?? sessionStorage.getItem(TOKEN_KEY)
  let stream
  let retryTimer
  const charts = {}

  /** `#token=...` in the address: used once, then removed from the address bar. */
  function takeTokenFromHash () {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash)
    if (m === null) return null
    const value = decodeURIComponent(m[1])
    sessionStorage.setItem(TOKEN_KEY, value)
    history.replaceState(null, '', location.pathname + location.search)
    return value
  }

  function showLogin (message) {
    if (stream) stream.abort()
    $('#main').hidden = true
    $('#forget').hidden = true
    $('#login').hidden = false
    $('#login-error').textContent = message ?? ''
    setConnection('off', 'signed out')
    $('#token').focus()
  }

  function showMain () {
    $('#login').hidden = true
    $('#main').hidden = false
    $('#forget').hidden = false
  }

  function setConnection (state, text) {
    const el = $('#connection')
    el.className = `connection ${state}`
    el.textContent = text
  }

  $('#login-form').addEventListener('submit', event => {
    event.preventDefault()
    token = $('#token').value.trim()
    if (token === '') return
    sessionStorage.setItem(TOKEN_KEY, token)
    $('#token').value = ''
    connect()
  })

  $('#forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY)
    token = null
    showLogin()
  })

  // ---- the event stream --------------------------------------------------------------------

  async function connect () {
    clearTimeout(retryTimer)
    if (stream) stream.abort()
    if (!token) return showLogin()
    const controller = new AbortController()
    stream = controller
    setConnection('', 'connecting')
    let res
    try {
      res = await fetch('api/events', { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, cache: 'no-store', signal: controller.signal })
    } catch (err) {
      if (controller.signal.aborted) return
      return retry('cannot reach the server')
    }
    if (res.status === 401 || res.status === 403) {
      const body = await res.json().catch(() => ({}))
      sessionStorage.removeItem(TOKEN_KEY)
      token = null
      return showLogin(res.status === 401 ? 'That token was not accepted.' : (body.error ?? 'The dashboard is disabled.'))
    }
    if (!res.ok || res.body === null) return retry(`the server answered ${res.status}`)
    showMain()
    setConnection('live', 'live')
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          onEvent(block)
        }
      }
    } catch (err) {
      if (controller.signal.aborted) return
    }
    if (!controller.signal.aborted) retry('the stream ended')
  }

  function retry (why) {
    setConnection('off', `disconnected: ${why}; retrying`)
    retryTimer = setTimeout(connect, 2000)
  }

  function onEvent (block) {
    let type = 'message'
    const data = []
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) type = line.slice(6).trim()
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
    }
    if (type === 'snapshot' && data.length > 0) render(JSON.parse(data.join('\n')))
  }

  // ---- rendering ---------------------------------------------------------------------------

  function setText (name, text, value) {
    for (const el of stat(name)) {
      el.textContent = text
      if (value !== undefined) el.dataset.value = String(value)
    }
  }

  const count = n => numberFormat.format(Math.round(n))
  const percent = r => (r === null || r === undefined ? '–' : `${(r * 100).toFixed(1)}%`)
  const ms = v => (v === null || v === undefined ? '–' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v} ms`)

  function bytes (n) {
    const units = ['B', 'kB', 'MB', 'GB', 'TB']
    let i = 0
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
    return `${i === 0 ? n : n.toFixed(n >= 100 ? 0 : 1)} ${units[i]}`
  }

  function duration (s) {
    if (s < 60) return `${s}s`
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
    const h = Math.floor(s / 3600)
    return h < 48 ? `${h}h ${Math.floor((s % 3600) / 60)}m` : `${Math.floor(h / 24)}d ${h % 24}h`
  }

  function render (s) {
    const t = s.totals
    $('#meta').textContent = `${s.processes > 1 ? `${s.processes} processes · ` : ''}up ${duration(s.uptimeSeconds)} · updated ${new Date(s.at).toLocaleTimeString()}`
    document.body.dataset.at = String(s.at)

    // Headline numbers.
    setText('hitRatio', percent(s.hitRatio), s.hitRatio ?? '')
    const recent = window10(s.series)
    setText('hitRatioRecent', recent.ratio === null ? 'no cacheable requests in the last 10 s' : `${percent(recent.ratio)} in the last 10 s`)
    setText('rps', recent.rps.toFixed(recent.rps < 10 ? 1 : 0), recent.rps)
    setText('requests', count(s.requests), s.requests)
    for (const name of ['coalesced', 'stores', 'notStored', 'originErrors', 'aborted', 'hits', 'misses', 'stale', 'revalidated', 'bypassed', 'entries', 'evictions']) {
      setText(name, count(t[name]), t[name])
    }

    // Cache status breakdown.
    const statuses = ['hits', 'misses', 'stale', 'revalidated', 'bypassed']
    const all = statuses.reduce((n, k) => n + t[k], 0)
    for (const k of statuses) {
      const share = all === 0 ? 0 : t[k] / all
      document.querySelector(`[data-bar="${k}"]`).style.width = `${(share * 100).toFixed(1)}%`
      document.querySelector(`[data-bar="${k}"]`).className = { hits: 'hit', misses: 'miss', stale: 'stale', revalidated: 'revalidated', bypassed: 'bypass' }[k]
      document.querySelector(`[data-pct="${k}"]`).textContent = all === 0 ? '' : `${(share * 100).toFixed(1)}%`
    }

    // Origin latency.
    const l = s.latency
    setText('p50', ms(l.p50), l.p50 ?? '')
    setText('p90', ms(l.p90), l.p90 ?? '')
    setText('p99', ms(l.p99), l.p99 ?? '')
    setText('latencyMax', ms(l.max), l.max ?? '')
    setText('latencyCount', count(l.count), l.count)
    setText('latencyWindow', `last ${Math.round(l.windowSeconds / 60)} minutes`)

    // L1.
    const used = s.l1.maxBytes === 0 ? 0 : s.l1.bytes / s.l1.maxBytes
    setText('l1Bytes', bytes(s.l1.bytes), s.l1.bytes)
    setText('l1MaxBytes', bytes(s.l1.maxBytes), s.l1.maxBytes)
    setText('l1Percent', `${(used * 100).toFixed(1)}%`)
    setText('l1MaxObject', bytes(s.l1.maxObjectSize))
    const meter = $('#l1-meter')
    meter.style.width = `${Math.min(100, used * 100).toFixed(1)}%`
    meter.className = used > 0.9 ? 'high' : ''

    renderL2(s.l2)
    renderPaths('#top-hits', s.top.hits, 'no hits yet')
    renderPaths('#top-misses', s.top.misses, 'no misses yet')
    setText('topNote', `recent: counts halve every ${Math.round(s.top.halfLifeSeconds / 60)} minutes`)
    renderPurges(s.purges)
    renderCharts(s.series)
  }

  /** Requests per second and hit ratio over the last 10 seconds of the series. */
  function window10 (series) {
    const n = series.time.length
    let served = 0; let missed = 0; let requests = 0
    for (let i = Math.max(0, n - 10); i < n; i++) {
      served += series.hits[i] + series.stale[i] + series.revalidated[i]
      missed += series.misses[i]
      requests += series.hits[i] + series.stale[i] + series.revalidated[i] + series.misses[i] + series.bypassed[i]
    }
    return { rps: requests / Math.min(10, Math.max(1, n)), ratio: served + missed === 0 ? null : served / (served + missed) }
  }

  function renderL2 (l2) {
    const badge = $('#l2-state')
    const rows = $('#l2-rows')
    if (l2 === null) {
      badge.className = 'badge none'
      badge.textContent = 'not configured'
      badge.dataset.value = 'none'
      $('#l2-breaker').textContent = 'in-memory only'
      rows.replaceChildren()
      return
    }
    badge.className = `badge ${l2.state}`
    badge.textContent = { closed: 'healthy', open: 'unavailable', 'half-open': 'probing' }[l2.state] ?? l2.state
    badge.dataset.value = l2.state
    $('#l2-breaker').textContent = `circuit breaker ${l2.state}`
    const items = [
      ['Errors', count(l2.errors)],
      ['Timeouts', count(l2.timeouts)],
      ['Skipped (breaker open)', count(l2.skipped)],
      ['Unreadable values', count(l2.corrupt)],
      ['Compression saved', bytes(l2.saved ?? 0)],
      ['Invalidation notices', `${count(l2.published)} sent · ${count(l2.received)} received`],
      ['Subscribed', l2.subscribed ? 'yes' : 'no'],
    ]
    if (l2.locks) items.push(['Cross-instance locks', `${count(l2.locks.acquired)} led · ${count(l2.locks.contended)} waited`])
    rows.replaceChildren(...items.map(([k, v]) => {
      const div = document.createElement('div')
      const dt = document.createElement('dt')
      const dd = document.createElement('dd')
      dt.textContent = k
      dd.textContent = v
      div.append(dt, dd)
      return div
    }))
  }

  function renderPaths (selector, list, empty) {
    const body = $(`${selector} tbody`)
    if (list.length === 0) {
      const tr = document.createElement('tr')
      const td = document.createElement('td')
      td.className = 'empty'
      td.textContent = empty
      tr.append(td)
      return body.replaceChildren(tr)
    }
    body.replaceChildren(...list.map(({ path, count: n }) => {
      const tr = document.createElement('tr')
      const p = document.createElement('td')
      const c = document.createElement('td')
      p.textContent = path
      p.title = path
      c.className = 'num'
      c.textContent = count(n)
      tr.append(p, c)
      return tr
    }))
  }

  function renderPurges (purges) {
    const body = $('#purges tbody')
    if (purges.length === 0) {
      const tr = document.createElement('tr')
      const td = document.createElement('td')
      td.colSpan = 3
      td.className = 'empty'
      td.textContent = 'no purges since start'
      tr.append(td)
      return body.replaceChildren(tr)
    }
    body.replaceChildren(...purges.map(p => {
      const tr = document.createElement('tr')
      const when = document.createElement('td')
      const what = document.createElement('td')
      const result = document.createElement('td')
      when.textContent = new Date(p.at).toLocaleTimeString()
      const code = document.createElement('code')
      code.textContent = p.value === true ? 'all' : `${p.kind}: ${p.value}`
      what.append(code)
      result.textContent = p.error !== undefined ? `failed: ${p.error}` : p.purged === undefined ? 'running' : `${count(p.purged)} removed${p.ms === undefined ? '' : ` in ${p.ms} ms`}`
      tr.append(when, what, result)
      return tr
    }))
  }

  // ---- charts (uPlot) ----------------------------------------------------------------------

  const COLORS = { total: '#1d2330', hits: '#2e9d5b', misses: '#d9534f', stale: '#e0a526', bypassed: '#8a8fa0', ratio: '#3b5bdb' }

  /** 12:53:05 (24-hour clock) for a Unix time in seconds. */
  function clock (t) {
    const d = new Date(t * 1000)
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(n => String(n).padStart(2, '0')).join(':')
  }

  function chart (id, series, axes, yRange) {
    const el = document.getElementById(id)
    const opts = {
      width: Math.max(300, el.clientWidth),
      height: 220,
      series: [{}, ...series],
      axes: [{ space: 70, values: (u, ticks) => ticks.map(t => clock(t)) }, ...axes],
      scales: { x: { time: true }, y: yRange ? { range: yRange } : { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    }
    const u = new window.uPlot(opts, [[]].concat(series.map(() => [])), el)
    new ResizeObserver(() => u.setSize({ width: Math.max(300, el.clientWidth), height: 220 })).observe(el)
    return u
  }

  function renderCharts (s) {
    if (typeof window.uPlot !== 'function') return
    if (!charts.rps) {
      const line = (label, color, extra) => ({ label, stroke: color, width: 1.5, points: { show: false }, value: (u, v) => (v == null ? '–' : v.toFixed(1)), ...extra })
      charts.rps = chart('chart-rps', [
        line('total', COLORS.total, { width: 2 }),
        line('hits', COLORS.hits, { fill: 'rgba(46,157,91,.08)' }),
        line('misses', COLORS.misses),
        line('stale + revalidated', COLORS.stale),
        line('bypassed', COLORS.bypassed),
      ], [{ label: 'requests / s', size: 50 }])
      charts.ratio = chart('chart-ratio', [
        { label: 'hit ratio', stroke: COLORS.ratio, width: 2, fill: 'rgba(59,91,219,.08)', points: { show: false }, spanGaps: false, value: (u, v) => (v == null ? '–' : `${v.toFixed(1)}%`) },
      ], [{ label: '%', size: 50, values: (u, ticks) => ticks.map(v => `${v}%`) }], [0, 100])
    }
    const n = s.time.length
    const total = []; const renewed = []; const ratio = []
    for (let i = 0; i < n; i++) {
      total.push(s.hits[i] + s.misses[i] + s.stale[i] + s.revalidated[i] + s.bypassed[i])
      renewed.push(s.stale[i] + s.revalidated[i])
      let served = 0; let missed = 0
      for (let j = Math.max(0, i - 9); j <= i; j++) {
        served += s.hits[j] + s.stale[j] + s.revalidated[j]
        missed += s.misses[j]
      }
      ratio.push(served + missed === 0 ? null : (served / (served + missed)) * 100)
    }
    charts.rps.setData([s.time, total, s.hits, s.misses, renewed, s.bypassed])
    charts.ratio.setData([s.time, ratio])
  }

  // ---- purging -----------------------------------------------------------------------------

  const kind = $('#purge-kind')
  const value = $('#purge-value')
  const PLACEHOLDERS = { url: '/products/42', tag: 'products', prefix: '/products/', key: 'namespace:GET:/products/42?', all: '' }
  kind.addEventListener('change', () => {
    const all = kind.value === 'all'
    value.disabled = all
    value.required = !all
    value.placeholder = PLACEHOLDERS[kind.value]
    if (all) value.value = ''
  })

  $('#purge-form').addEventListener('submit', async event => {
    event.preventDefault()
    const result = $('#purge-result')
    const what = kind.value === 'all' ? { all: true } : { [kind.value]: value.value.trim() }
    if (kind.value === 'all' && !window.confirm('Purge everything this cache holds?')) return
    const button = $('#purge-submit')
    button.disabled = true
    result.className = 'result'
    result.textContent = 'purging…'
    try {
      const res = await fetch('api/purge', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(what),
      })
      const body = await res.json().catch(() => ({}))
      if (res.ok) {
        result.className = 'result ok'
        const label = kind.value === 'all' ? 'everything' : `${kind.value} ${value.value.trim()}`
        result.textContent = `Purged ${label}: ${count(body.purged)} stored ${body.purged === 1 ? 'value' : 'values'} removed.`
        result.dataset.purged = String(body.purged)
      } else {
        result.className = 'result failed'
        result.textContent = `Not purged (${res.status}): ${body.error ?? res.statusText}`
        if (res.status === 401) showLogin('That token was not accepted.')
      }
    } catch (err) {
      result.className = 'result failed'
      result.textContent = `Not purged: ${err.message}`
    } finally {
      button.disabled = false
    }
  })

  if (token) connect()
  else showLogin()
})()
