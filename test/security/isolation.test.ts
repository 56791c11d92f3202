import { expressHarness } from '../adapters/express.test.js'
import { isolation } from './isolation.js'

describe('isolation under concurrency', () => {
  isolation(expressHarness)
})
