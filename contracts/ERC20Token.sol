// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title ERC20Token: a small, self-contained ERC-20 for jsc-node's tests.
/// @notice Behaves like OpenZeppelin's ERC20 (same revert strings, same events, no
///         increaseAllowance), but imports nothing, so solc-js compiles it offline.
///         `burn` reverts with a custom error so tests can decode a typed revert.
contract ERC20Token {
    string public constant name = "JSC Test Token";
    string public constant symbol = "JTT";
    uint8 public constant decimals = 18;
    uint256 public totalSupply;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// Raised by `burn` when the caller burns more than it holds.
    error InsufficientBalance(address account, uint256 balance, uint256 needed);

    /// One argument only, so a deploy transaction is `bytecode ++ uint256(initialSupply)`.
    constructor(uint256 initialSupply) {
        totalSupply = initialSupply;
        balanceOf[msg.sender] = initialSupply;
        emit Transfer(address(0), msg.sender, initialSupply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        require(spender != address(0), "ERC20: approve to the zero address");
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 current = allowance[from][msg.sender];
        // An allowance of type(uint256).max is infinite and never decreases (as in OpenZeppelin).
        if (current != type(uint256).max) {
            require(current >= value, "ERC20: insufficient allowance");
            unchecked {
                allowance[from][msg.sender] = current - value;
            }
        }
        _transfer(from, to, value);
        return true;
    }

    /// Destroys `value` of the caller's tokens; reverts with the custom error InsufficientBalance.
    function burn(uint256 value) external {
        uint256 balance = balanceOf[msg.sender];
        if (balance < value) {
            revert InsufficientBalance(msg.sender, balance, value);
        }
        unchecked {
            balanceOf[msg.sender] = balance - value;
            totalSupply -= value;
        }
        emit Transfer(msg.sender, address(0), value);
    }

    function _transfer(address from, address to, uint256 value) internal {
        require(to != address(0), "ERC20: transfer to the zero address");
        uint256 balance = balanceOf[from];
        require(balance >= value, "ERC20: transfer amount exceeds balance");
        unchecked {
            balanceOf[from] = balance - value;
            balanceOf[to] += value;
        }
        emit Transfer(from, to, value);
    }
}
