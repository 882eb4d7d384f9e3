// One data type for a stack's bands: the smallest of GDAL's that holds every value of each.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { unionType } from '../lib/raster/data-types.js'

test('unionType: the smallest type holding every band\'s values', () => {
  assert.equal(unionType(['UInt16', 'UInt16']), 'UInt16')
  assert.equal(unionType(['Byte', 'UInt16']), 'UInt16')
  assert.equal(unionType(['Byte', 'Int16']), 'Int16')
  assert.equal(unionType(['UInt16', 'Int16']), 'Int32')
  assert.equal(unionType(['UInt32', 'Int16']), 'Float64')
  assert.equal(unionType(['Int32', 'UInt32']), 'Float64')
  assert.equal(unionType(['UInt16', 'Float32']), 'Float32')
  assert.equal(unionType(['Int32', 'Float32']), 'Float64')
  assert.equal(unionType(['Float32', 'Float64']), 'Float64')
  assert.equal(unionType(['Byte', 'CInt16']), 'CFloat64')
})
