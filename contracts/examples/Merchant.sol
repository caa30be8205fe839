// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Merchant: a shop an agent buys from, the allowlisted target of the agent-wallet example.
/// @notice `buy` takes ether for a named item and records the sale; it refuses a purchase with no
///         payment, so a test can see a target's own revert reason come back through AgentPolicy.
contract Merchant {
    uint256 public sales;
    mapping(address => uint256) public spentBy;

    event Purchase(address indexed buyer, string item, uint256 price);

    function buy(string calldata item) external payable returns (uint256 saleNumber) {
        require(msg.value > 0, "Merchant: payment required");
        spentBy[msg.sender] += msg.value;
        saleNumber = ++sales;
        emit Purchase(msg.sender, item, msg.value);
    }
}
