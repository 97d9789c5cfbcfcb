@tpp-push @tpp-receiver
Feature: A TPP's push receiver (OBIE real-time event notifications, RFC 8935 recipient)
  The harness plays the bank (the referee): it signs SETs with its own key (published at its
  JWKS URL), as the issuer the TPP profile names, for the TPP's audience, and pushes them to the
  TPP's receiver. A valid SET must be accepted with 202 and nothing else; every defective one
  must be refused with 400 and an RFC 8935 error body.

  @R-05 @R8935-06
  Scenario: A valid SET is accepted with 202, an empty body and the interaction id echoed
    When the referee pushes a valid SET to the TPP
    Then the TPP accepts it with 202 and an empty body
    And the TPP's answer echoes the push's x-fapi-interaction-id

  @R8935-07
  Scenario: A valid SET is answered within the time the TPP declares
    Given the TPP has accepted a valid SET
    When the referee pushes a valid SET to the TPP
    Then the TPP answers within its declared time

  @R8417-19
  Scenario: A valid SET with claims and event members the TPP does not know is accepted
    When the referee pushes a valid SET with unknown claims to the TPP
    Then the TPP accepts it

  @R8935-05 @R8935-09 @R8935-22 @J-06
  Scenario: A SET whose signature does not verify is refused
    When the referee pushes a SET with a bad signature to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_key"

  @R8935-05 @R8935-09 @R8935-22 @J-06
  Scenario: A SET signed by a key the issuer's JWKS does not hold is refused
    When the referee pushes a SET signed with an unknown kid to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_key"

  @R8935-06
  Scenario: A SET signed by a key the issuer has just published is accepted (one JWKS refresh)
    Given the TPP has accepted a valid SET
    When the referee rotates to a new signing key and pushes a valid SET signed with it
    Then the TPP accepts it with 202 and an empty body

  @R8935-23 @R8935-09 @R8935-22 @J-06
  Scenario: An unsigned SET (alg none) is refused
    When the referee pushes a SET with alg none to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_key"

  @R8935-23 @R8935-09 @R8935-22 @J-06
  Scenario: A SET signed HS256 with the issuer's public key as the secret is refused
    When the referee pushes a SET signed HS256 with its public key to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_key"

  @R8935-05 @R8935-09 @R8935-22
  Scenario: A SET for another audience is refused
    When the referee pushes a SET with a wrong aud to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_audience"

  @R8935-05 @R8935-09 @R8935-22
  Scenario: A SET the referee addressed to another TPP is refused
    When the referee pushes a SET addressed to another TPP to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_audience"

  @R8935-05 @R8935-09 @R8935-22
  Scenario: A SET from an issuer the TPP does not know is refused
    When the referee pushes a SET with a wrong iss to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_issuer"

  @J-06 @R8935-09 @R8935-22
  Scenario: A SET issued an hour in the future is refused
    When the referee pushes a SET with iat an hour in the future to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_request"

  @J-06 @R8935-09 @R8935-22
  Scenario: A SET whose crit header lacks the OB members is refused
    When the referee pushes a SET whose crit lacks the OB members to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_request"

  @R8935-09 @R8935-22
  Scenario: A body that is not a compact JWS is refused
    When the referee pushes a body that is not a compact JWS to the TPP
    Then the TPP refuses it with 400 and an RFC 8935 error, expected err "invalid_request"

  @R8935-24
  Scenario: A SET sent with a Content-Type that is not a SET media type is refused
    When the referee pushes a valid SET as text/plain to the TPP
    Then the TPP refuses the media type with 400 and an RFC 8935 error or with 415

  @R8935-10
  Scenario: An error answer carries Content-Language
    When the referee pushes a SET with a bad signature to the TPP
    Then the TPP's error answer carries Content-Language

  @R8935-13
  Scenario: The same SET pushed again is answered as its first delivery was
    When the referee pushes a valid SET to the TPP
    And the referee pushes the same SET again
    Then the TPP answered the repeat as it answered the first delivery

  @R8935-25 @tpp-observation
  Scenario: The same SET pushed twice is processed once
    When the referee pushes a valid SET to the TPP
    And the referee pushes the same SET again
    And the referee pushes a valid control SET and waits until the TPP has processed it
    Then the TPP processed the first SET exactly once

  @R8935-05 @tpp-observation
  Scenario: A refused SET is not processed
    When the referee pushes a SET with a bad signature to the TPP
    And the referee pushes a valid control SET and waits until the TPP has processed it
    Then the TPP did not process the refused SET
