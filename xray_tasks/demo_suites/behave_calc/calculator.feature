Feature: Calculator
  The demo's calculator, described in Gherkin: imported into Xray as Cucumber Tests, exported back with
  their keys, run by behave, and its results imported onto the same Tests.

  Background: A fresh calculator
    Given a calculator

  @smoke
  Scenario: Adds two numbers
    When I add 2 and 3
    Then the result is 5

  Scenario: Subtracts, failing on purpose
    When I subtract 3 from 5
    Then the result is 3

  Scenario Outline: Adds <a> and <b>
    When I add <a> and <b>
    Then the result is <sum>

    Examples:
      | a | b | sum |
      | 1 | 2 | 3   |
      | 2 | 2 | 4   |
