import { behaviour } from './behaviour.js'
import { makeExpressHarness } from './express-harness.js'

export const expressHarness = makeExpressHarness({ name: 'express' })

behaviour(expressHarness)
