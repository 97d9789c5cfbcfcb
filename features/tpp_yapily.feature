@tpp-yapily @tpp-yapily-receiver
Feature: A TPP's Yapily-style notification receiver (yapily-signature)
  The harness plays the sender (the referee): it POSTs the common event object as JSON to the
  TPP's [yapily] url with a yapily-signature header, a JWT signed PS256 with the referee's key
  (published at its JWKS URL) whose claims carry the SHA-256 of the exact body bytes
  (upper-case hex), enc SHA256, iat, exp (iat + 300 s) and a fresh jti; applicationId is the
  TPP's client id at the referee. A webhook that verifies must be accepted with a 2xx; each
  defective one must be refused with a 4xx (no rule names the code, so any 4xx is a refusal).

  @YA-13
  Scenario: A webhook with a valid yapily-signature is accepted with 2xx within the declared time
    When the referee sends a valid Yapily webhook to the TPP
    Then the TPP accepts the webhook with 2xx
    And the TPP answered the webhook within its declared time

  @JWD-06
  Scenario: A webhook whose body is not the one the signature's digest covers is refused
    When the referee sends a Yapily webhook with a tampered body to the TPP
    Then the TPP refuses the webhook with a 4xx

  @JWD-03 @JWD-04
  Scenario: A webhook signed by a key the sender's JWKS does not hold is refused
    When the referee sends a Yapily webhook signed by an unknown key to the TPP
    Then the TPP refuses the webhook with a 4xx

  @JWD-05
  Scenario: A webhook whose signature has expired is refused
    When the referee sends a Yapily webhook with an expired signature to the TPP
    Then the TPP refuses the webhook with a 4xx

  @JWD-07
  Scenario: A webhook whose signature reuses the jti of an accepted one is refused
    Given the TPP has accepted a valid Yapily webhook
    When the referee sends a new Yapily webhook whose signature reuses that jti to the TPP
    Then the TPP refuses the webhook with a 4xx

  @JWD-01
  Scenario: A webhook without a yapily-signature is refused
    When the referee sends a Yapily webhook without a yapily-signature to the TPP
    Then the TPP refuses the webhook with a 4xx

  @JWD-02
  Scenario: A webhook whose signature is unsigned (alg none) is refused
    When the referee sends a Yapily webhook signed with alg none to the TPP
    Then the TPP refuses the webhook with a 4xx
