import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import { describeControlError } from './errors'

describe('describeControlError', () => {
  it('explains a locked sign-in with the wait the server named', () => {
    const e = new ApiError(429, 'too_many_attempts', 'too many failed logins; try again in 30 s', '/v1/auth/login')
    const text = describeControlError(e)
    expect(text.title).toBe('Too many failed sign-ins')
    expect(text.detail).toContain('try again in 30 s')
  })

  it('says what still has to go before a deletion, with the count the server named', () => {
    const text = describeControlError(new ApiError(409, 'not_empty', 'the team still has 2 projects: delete them first', '/v1/teams/x'))
    expect(text).toEqual({ title: 'Not empty', detail: 'The team still has 2 projects: delete them first.' })
  })

  it('never hides an unknown code', () => {
    const text = describeControlError(new ApiError(418, 'teapot', 'short and stout', '/v1/x'))
    expect(text.detail).toContain('418 teapot')
  })
})
