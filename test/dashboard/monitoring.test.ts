/**
 * examples/monitoring: the Grafana dashboard and the Prometheus rules ask only for metrics (and
 * label values) that the proxy's /metrics really exports, and the names follow Prometheus's
 * conventions.
 */
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { send } from '../support/http.js'
import { ROOT, startOrigin, startProxy } from '../proxy/support.js'

const DIR = path.join(ROOT, 'examples', 'monitoring')

interface Panel { title: string, datasource?: unknown, targets?: { expr: string }[] }

/** Every expression of the dashboard and the rules. */
function expressions (): { where: string, expr: string }[] {
  const dashboard = JSON.parse(readFileSync(path.join(DIR, 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[], templating: { list: { definition?: string }[] } }
  const rules = parseYaml(readFileSync(path.join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string, expr: string }[] }[] }
  return [
    ...dashboard.panels.flatMap(p => (p.targets ?? []).map(t => ({ where: `panel "${p.title}"`, expr: t.expr }))),
    ...dashboard.templating.list.filter(v => v.definition !== undefined).map(v => ({ where: 'variable', expr: v.definition! })),
    ...rules.groups.flatMap(g => g.rules.map(r => ({ where: `alert ${r.alert}`, expr: r.expr }))),
  ]
}

describe('examples/monitoring', () => {
  let exported: string
  before(async () => {
    const origin = await startOrigin((_req, res) => { res.setHeader('cache-control', 'max-age=60'); res.end('x') })
    const proxy = await startProxy(origin.url)
    try {
      await send(proxy.url + '/a')
      exported = (await send(proxy.admin + '/metrics')).text
    } finally {
      await proxy.close()
      await origin.close()
    }
  })

  it('exports names that follow the conventions: _total counters, _seconds histograms, _bytes gauges', () => {
    const types = new Map([...exported.matchAll(/^# TYPE (cachefront_\w+) (\w+)$/gm)].map(m => [m[1], m[2]]))
    expect(types.size).to.be.above(8)
    for (const [name, type] of types) {
      if (type === 'counter') expect(name, name).to.match(/_total$/)
      if (type === 'histogram') expect(name, name).to.match(/_seconds$|_bytes$/)
      if (/_bytes$/.test(name)) expect(type, name).to.equal('gauge')
    }
    expect(types.get('cachefront_requests_total')).to.equal('counter')
    expect(exported).to.match(/^cachefront_requests_total\{cache_status="miss"\} 1$/m)
  })

  it('asks only for metrics and cache_status values the proxy exports', () => {
    const names = new Set([...exported.matchAll(/^# TYPE (cachefront_\w+) (\w+)$/gm)].map(m => m[1]))
    const statuses = new Set(/cache status \(([^)]*)\)/.exec(exported)![1].split(', '))
    const exprs = expressions()
    expect(exprs.length).to.be.above(15)
    for (const { where, expr } of exprs) {
      for (const [name] of expr.matchAll(/cachefront_\w+/g)) {
        expect(names, `${where} uses ${name}`).to.include(name.replace(/_(bucket|sum|count)$/, ''))
      }
      for (const m of expr.matchAll(/cache_status=~?"([^"]*)"/g)) {
        for (const value of m[1].split('|')) expect(statuses, `${where} uses cache_status ${value}`).to.include(value)
      }
    }
  })

  it('gives every panel a data source and a query, and Prometheus a scrape job for /metrics', () => {
    const dashboard = JSON.parse(readFileSync(path.join(DIR, 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[], uid: string }
    expect(dashboard.uid).to.equal('cachefront')
    for (const p of dashboard.panels) {
      expect(p.datasource, p.title).to.deep.equal({ type: 'prometheus', uid: '${datasource}' })
      expect(p.targets, p.title).to.have.length.above(0)
    }
    const config = parseYaml(readFileSync(path.join(DIR, 'prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string, metrics_path: string }[], rule_files: string[] }
    expect(config.scrape_configs[0]).to.include({ job_name: 'cachefront', metrics_path: '/metrics' })
    expect(config.rule_files).to.deep.equal(['alerts.yml'])
  })
})
