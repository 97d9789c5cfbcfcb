@subscription-api @signing
Feature: Message signing of the subscription APIs
  POST and PUT on the subscription and callback URL resources are signed requests and signed
  responses: a detached JWS in x-jws-signature with the OB JOSE header (obie-rules.md G-14).

  Background:
    Given TPP A starts clean

  @G-14 @J-05 @response-signing
  Scenario: Subscription responses carry a valid detached signature
    When TPP A creates a polling event subscription
    Then the response status is 201
    And the response carries a valid x-jws-signature
    When TPP A lists its event subscriptions
    Then the response carries a valid x-jws-signature

  @G-14 @request-signing-required
  Scenario: An unsigned subscription request is refused with UK.OBIE.Signature.Missing
    Given the next request is not signed
    When TPP A creates a polling event subscription
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Signature.Missing"

  @G-14 @request-signing
  Scenario: A subscription request whose signature does not verify is refused
    Given the next request has a signature that does not match its body
    When TPP A creates a polling event subscription
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Signature.Invalid"

  @G-14 @request-signing
  Scenario: A correctly signed subscription request is accepted
    When TPP A creates a polling event subscription
    Then the response status is 201
