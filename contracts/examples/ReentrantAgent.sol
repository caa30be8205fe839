// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IAgentPolicy {
    function pay(address payable to, uint256 amount) external;
}

/// @title ReentrantAgent: a hostile agent, to show that AgentPolicy cannot be re-entered.
/// @notice Made the agent of a policy (an agent may be a contract), `attack` asks the owner's
///         account to pay this contract; when the ether arrives, `receive` tries to be paid once
///         more from inside that payment. AgentPolicy's lock refuses the inner call; `receive`
///         records the refusal's reason and lets the outer payment finish, so a test can read
///         both what was paid (once) and why the second payment was refused.
contract ReentrantAgent {
    address public owner;
    uint256 public amount;
    uint256 public received;
    string public innerRefusal;

    function attack(address owner_, uint256 amount_) external {
        owner = owner_;
        amount = amount_;
        IAgentPolicy(owner_).pay(payable(address(this)), amount_);
    }

    receive() external payable {
        received += msg.value;
        if (received > amount) {
            return; // a second payment got through: the test sees received == 2 * amount
        }
        try IAgentPolicy(owner).pay(payable(address(this)), amount) {
            // not reached while the lock holds
        } catch Error(string memory reason) {
            innerRefusal = reason;
        }
    }
}
